import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';

/**
 * Every setting of every role, in one place: its schema, default, and the line that documents it.
 * `.env.example` and README's configuration table are checked against this list by a test.
 */
interface Setting<S extends z.ZodType> {
  schema: S;
  description: string;
  /** Shown in .env.example and the README; absent means "no default". */
  default?: string;
  /** Never printed back, not even in error messages. */
  secret?: boolean;
}

type SettingOptions = Omit<Setting<z.ZodType>, 'schema' | 'description'>;

/** Keeps the literal options in the type, so settings with a default are never `undefined` in Config. */
const setting = <S extends z.ZodType, O extends SettingOptions = Record<never, never>>(
  schema: S,
  description: string,
  options?: O,
): { schema: S; description: string } & O => ({ schema, description, ...(options as O) });

const port = z.coerce.number({ error: 'expected a port number from 1 to 65535' }).int().min(1).max(65535);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const url = (...protocols: string[]) =>
  z.url({
    protocol: new RegExp(`^(${protocols.join('|')})$`),
    error: `expected a ${protocols.join(' or ')} URL`,
  });

export const SETTINGS = {
  COCOON_DATA_DIR: setting(
    z.string().min(1),
    'Folder for the embedded database, the local chain and caches',
    { default: '.cocoon' },
  ),
  COCOON_KEY_PASSPHRASE: setting(
    z.string().min(12, 'at least 12 characters'),
    'Passphrase that encrypts the key files in the data folder (client accounts, the proxy operator); unset = 0600 files in the clear',
    { secret: true },
  ),
  LOG_LEVEL: setting(
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    'Log level (logs never hold prompts, posts or summaries)',
    { default: 'info' },
  ),
  DATABASE_URL: setting(
    url('postgres', 'postgresql'),
    'Postgres server to share between processes; unset = embedded PGlite in the data folder',
    { secret: true },
  ),
  TON_NETWORK: setting(
    z.enum(['sandbox', 'testnet', 'mainnet']),
    'TON network: sandbox is a local chain (real TVM) saved in the data folder',
    { default: 'sandbox' },
  ),
  TON_ENDPOINT: setting(url('http', 'https'), 'toncenter-compatible JSON-RPC endpoint for testnet/mainnet'),
  TON_API_KEY: setting(z.string().min(1), 'API key for TON_ENDPOINT', { secret: true }),
  TON_MNEMONIC: setting(
    z.string().regex(/^(\S+ ){23}\S+$/, 'expected 24 words'),
    'Operator wallet mnemonic (24 words) for testnet/mainnet',
    { secret: true },
  ),
  TON_RPC_PORT: setting(
    port,
    "Loopback port where `npm start` serves the sandbox chain as toncenter v2 JSON-RPC (the `cocoon` CLI's wallet uses it)",
    { default: '8482' },
  ),
  ROOT_ADDRESS: setting(
    z.string().min(1),
    'Root contract to trust on testnet/mainnet; unset on the sandbox = deployed on first start',
  ),
  PROXY_HOST: setting(z.string().min(1), 'Address the proxy listens on', { default: '127.0.0.1' }),
  PROXY_PORT: setting(port, 'Port of the proxy (client HTTP API and worker WebSocket)', { default: '8480' }),
  PROXY_TLS_CERT_FILE: setting(
    z.string().min(1),
    '`cocoon-proxy`: PEM certificate chain to serve HTTPS and WSS with (with PROXY_TLS_KEY_FILE; reloaded when renewed); unset = plain HTTP',
  ),
  PROXY_TLS_KEY_FILE: setting(z.string().min(1), '`cocoon-proxy`: PEM private key of PROXY_TLS_CERT_FILE'),
  PROXY_TRUST_FORWARDED_FOR: setting(
    bool,
    'Behind a reverse proxy (TLS): limit requests per client address from the X-Forwarded-For it appends',
    { default: 'false' },
  ),
  PROXY_CREDIT_WINDOW: setting(
    z.coerce.bigint().nonnegative(),
    "Nanotons of work a client may run beyond the last total it signed (must exceed a job's max cost)",
    { default: '100000000' },
  ),
  PROXY_CHARGE_THRESHOLD: setting(
    z.coerce.bigint().nonnegative(),
    "Nanotons a client's signed total runs ahead of the chain before the proxy charges it",
    { default: '1000000000' },
  ),
  PROXY_PAYOUT_THRESHOLD: setting(
    z.coerce.bigint().nonnegative(),
    'Nanotons a worker earns before the proxy pays it out on chain',
    { default: '10000000000' },
  ),
  PROXY_CHARGE_INTERVAL_SECONDS: setting(
    z.coerce.number().int().positive(),
    'Every unsettled signed total is charged at least this often',
    { default: '3600' },
  ),
  PROXY_PAYOUT_INTERVAL_SECONDS: setting(
    z.coerce.number().int().positive(),
    'Every unpaid earning is paid at least this often',
    { default: '86400' },
  ),
  PROXY_STATE_INTERVAL_SECONDS: setting(
    z.coerce.number().int().positive(),
    'How often the proxy anchors a hash of its settlement state in its Proxy contract (a restored older database is then refused at start)',
    { default: '60' },
  ),
  PROXY_STAKE: setting(
    z.coerce.bigint().positive(),
    "Nanotons the proxy stakes in its Proxy contract (at least the Root's minimum)",
    { default: '15000000000' },
  ),
  CLIENT_DEPOSIT: setting(
    z.coerce.bigint().positive(),
    "Nanotons the wallet deposits into a new Client contract of `npm start`'s local clients and of `cocoon app`",
    { default: '10000000000' },
  ),
  CLIENT_MAX_PRICE_PER_TOKEN: setting(
    z.coerce.bigint().positive(),
    'Nanotons per token (of the dearer kind, after multipliers) that clients pay at most; unset = any price',
  ),
  CLIENT_COLLATERAL: setting(
    z.enum(['pccs', 'bundle']),
    "Intel collateral that clients verify TDX workers with: pccs = fetched from PCCS_URL themselves (kept an hour; the bundle's is the logged fallback when it cannot be reached), bundle = the one a worker's bundle carries through the proxy",
    { default: 'pccs' },
  ),
  PROXY_CONTRACT: setting(
    z.string().min(1),
    "The proxy's Proxy contract on testnet/mainnet (`cocoon-proxy` logs it): `cocoon app` derives its Client contract from it",
  ),
  PROXY_URL: setting(url('http', 'https'), 'Proxy a worker or client talks to', {
    default: 'http://127.0.0.1:8480',
  }),
  COCOON_MODEL: setting(
    z.string().min(1),
    'Models to serve, comma-separated: GGUF paths or hf: URIs, each optionally with =<price coefficient>; unset = a small default instruct model (Qwen2.5 0.5B Q4), or the extractive fallback when it cannot be downloaded',
  ),
  HF_ENDPOINT: setting(
    url('http', 'https'),
    'Hugging Face endpoint (or mirror) that hf: model URIs download from',
    { default: 'https://huggingface.co' },
  ),
  WORKER_GPU: setting(
    z.enum(['auto', 'cpu', 'cuda', 'vulkan']),
    'GPU backend for llama.cpp (auto picks CUDA, Vulkan or Metal, else the CPU)',
    {
      default: 'auto',
    },
  ),
  WORKER_THREADS: setting(
    z.coerce.number().int().min(0).max(1024),
    "CPU threads per model for llama.cpp; 0 = llama.cpp's choice (1 for the tiny demo model)",
    { default: '0' },
  ),
  WORKER_ATTESTATION: setting(
    z.enum(['tdx', 'dev']),
    'Attestation provider: tdx (Intel TDX via configfs-tsm) or dev (no TEE, insecure)',
    { default: 'dev' },
  ),
  WORKER_PAYOUT_ADDRESS: setting(z.string().min(1), "TON address that receives the worker's earnings"),
  WORKER_STATUS_PORT: setting(
    port,
    "Loopback port of the worker's status endpoint (`cocoon-worker status`)",
    { default: '8481' },
  ),
  WORKER_KEY_LIFETIME_HOURS: setting(
    z.coerce.number().positive().max(168),
    "Hours a worker's in-memory keys and their attestation stay valid before rotation",
    { default: '6' },
  ),
  PCCS_URL: setting(
    url('https'),
    'Intel collateral service (PCCS or Intel PCS) for TDX quotes (workers, and clients under CLIENT_COLLATERAL=pccs)',
    {
      default: 'https://api.trustedservices.intel.com',
    },
  ),
  PRICE_PER_TOKEN: setting(
    z.coerce.bigint().positive(),
    "Network price per token in nanotons before a model's coefficient (the Root contract's parameter)",
    { default: '20' },
  ),
  ATTESTATION_ALLOW_DEV: setting(bool, 'Accept insecure dev attestations (only for local networks)', {
    default: 'true',
  }),
  APP_HOST: setting(z.string().min(1), 'Address the Mini App server listens on', { default: '127.0.0.1' }),
  APP_PORT: setting(port, 'Port of the Mini App server and its /api', { default: '8080' }),
  PUBLIC_URL: setting(url('http', 'https'), 'Public HTTPS URL of the Mini App server (what Telegram opens)'),
  GATEWAY_HOST: setting(z.string().min(1), 'Address the OpenAI-compatible gateway listens on', {
    default: '127.0.0.1',
  }),
  GATEWAY_PORT: setting(port, 'Port of the OpenAI-compatible gateway (/v1/chat/completions)', {
    default: '8490',
  }),
  GATEWAY_API_KEY: setting(
    z.string().min(16, 'expected at least 16 characters'),
    'Bearer key the gateway requires; unset = none (it listens on loopback)',
    { secret: true },
  ),
  BOT_TOKEN: setting(
    z.string().regex(/^\d+:[\w-]{20,}$/, 'expected a token from @BotFather like 123456:ABC-...'),
    'Telegram bot token from @BotFather; unset = no bot',
    { secret: true },
  ),
  WEBHOOK_URL: setting(
    url('https'),
    'Public HTTPS URL Telegram pushes bot updates to; the Mini App server serves its path. Unset = long polling',
  ),
  WEBHOOK_SECRET: setting(
    z.string().regex(/^[\w-]{1,256}$/, 'expected 1 to 256 characters from A-Z, a-z, 0-9, _ and -'),
    'Secret token Telegram sends with each webhook update; unset = derived from BOT_TOKEN',
    { secret: true },
  ),
  METRICS_TOKEN: setting(
    z.string().min(16, 'expected at least 16 characters'),
    'Bearer token that reads the Mini App server’s /metrics from anywhere; unset = from this host only',
    { secret: true },
  ),
} as const;

export type SettingName = keyof typeof SETTINGS;
type Schemas = typeof SETTINGS;
export type Config = {
  [K in SettingName]: Schemas[K] extends { default: string }
    ? z.output<Schemas[K]['schema']>
    : z.output<Schemas[K]['schema']> | undefined;
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Reads settings from the environment and, under it, an optional .env-format file's text. */
export function loadConfig(env: Record<string, string | undefined>, fileText?: string): Config {
  const fromFile = fileText === undefined ? {} : parseDotenv(fileText);
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [name, definition] of Object.entries(SETTINGS) as [SettingName, Setting<z.ZodType>][]) {
    const raw = nonEmpty(env[name]) ?? nonEmpty(fromFile[name]) ?? definition.default;
    if (raw === undefined) {
      config[name] = undefined;
      continue;
    }
    const result = definition.schema.safeParse(raw);
    if (result.success) {
      config[name] = result.data;
    } else {
      const shown = definition.secret ? '(hidden)' : JSON.stringify(raw);
      problems.push(`${name}=${shown}: ${result.error.issues.map((issue) => issue.message).join('; ')}`);
    }
  }
  const unknown = Object.keys(fromFile).filter((key) => !(key in SETTINGS));
  for (const key of unknown) problems.push(`${key}: unknown setting in the config file (see .env.example)`);
  if (problems.length > 0) throw new ConfigError(problems);
  return config as Config;
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value === '' ? undefined : value;

/** The text of .env.example, generated from SETTINGS so that it cannot drift. */
export function renderEnvExample(): string {
  const lines = ['# Cocoon settings. Every one is optional; the defaults run the whole stack locally.', ''];
  for (const [name, definition] of Object.entries(SETTINGS) as [SettingName, Setting<z.ZodType>][]) {
    lines.push(`# ${definition.description}${definition.secret ? ' (secret: never commit it)' : ''}`);
    lines.push(`${definition.default === undefined ? '# ' : ''}${name}=${definition.default ?? ''}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** README's configuration table, generated from SETTINGS like .env.example. */
export function renderSettingsTable(): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const rows = (Object.entries(SETTINGS) as [SettingName, Setting<z.ZodType>][]).map(
    ([name, d]) =>
      `| \`${name}\` | ${d.default === undefined ? '—' : `\`${d.default}\``} | ${cell(d.description)}${d.secret ? ' (secret)' : ''} |`,
  );
  return ['| setting | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
