import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { beginCell } from '@ton/core';
import { z } from 'zod';
import { DcapCollateral } from '../attestation/bundle.js';
import { AttestationPolicy } from '../attestation/verify.js';
import { toBase64, toHex, utf8 } from '../bytes.js';
import { SignedReceipt } from '../receipt.js';
import { ModelListing, WorkerListing } from './messages.js';
import { Base64, JobId, Nanotons, TokenCount, UnixSeconds } from './primitives.js';

/**
 * The Mini App's HTTP API (`/api/*` of the app server in bot/): one schema per request and response, so
 * server and browser share the types. Wire form: money is a decimal string (`Nanotons`); servers `encode`,
 * clients `parse`. Every call carries Telegram's initData in `Authorization: tma <initData>`.
 */

export const INIT_DATA_SCHEME = 'tma';

// ---------------------------------------------------------------------------------------------------------
// initData: Telegram signs the launch data with HMAC-SHA256 under HMAC("WebAppData", botToken).
// Pure JS, so the server checks it and a dev-mode mock environment in the browser can sign it.

/** The Telegram user inside initData (snake_case as Telegram sends it). */
export const TelegramUser = z.object({
  id: z.number().int().positive(),
  first_name: z.string(),
  last_name: z.string().optional(),
  username: z.string().optional(),
  language_code: z.string().optional(),
  is_premium: z.boolean().optional(),
  photo_url: z.string().optional(),
});
export type TelegramUser = z.output<typeof TelegramUser>;

export type InitDataErrorCode = 'malformed' | 'hash_mismatch' | 'expired' | 'from_future' | 'no_user';

export class InitDataError extends Error {
  override readonly name = 'InitDataError';
  constructor(
    readonly code: InitDataErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Telegram's data-check-string: every field but `hash`, sorted by key, as `key=value` lines. */
export function initDataCheckString(params: URLSearchParams): string {
  return [...params.entries()]
    .filter(([key]) => key !== 'hash')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
}

function initDataHash(params: URLSearchParams, botToken: string): Uint8Array {
  const secret = hmac(sha256, utf8('WebAppData'), utf8(botToken));
  return hmac(sha256, secret, utf8(initDataCheckString(params)));
}

/** Signs launch fields as Telegram does (tests and the dev-mode mock environment); returns the query string. */
export function signInitData(fields: Record<string, string>, botToken: string): string {
  const params = new URLSearchParams(fields);
  params.delete('hash');
  params.set('hash', toHex(initDataHash(params, botToken)));
  return params.toString();
}

/** Compares without an early exit, so the time taken does not reveal how much of a forged hash matched. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= (a[i] as number) ^ (b[i] as number);
  return difference === 0;
}

export interface VerifiedInitData {
  user: TelegramUser;
  authDate: number;
  /** Present when the app was opened from an inline button or a chat. */
  chatInstance?: string;
  startParam?: string;
}

/**
 * Checks initData's hash with the bot token and that `auth_date` is at most `maxAgeSeconds` old (and not
 * more than a minute ahead of `nowSeconds`). Throws InitDataError; returns the signed user.
 */
export function verifyInitData(
  raw: string,
  botToken: string,
  nowSeconds: number,
  maxAgeSeconds: number,
): VerifiedInitData {
  const params = new URLSearchParams(raw);
  // A second hash would be ignored by the check but could mislead anything else that reads the query.
  const [hash, ...otherHashes] = params.getAll('hash');
  if (hash === undefined || otherHashes.length > 0 || !/^[0-9a-f]{64}$/.test(hash)) {
    throw new InitDataError('malformed', 'initData needs exactly one hash of 64 lowercase hex digits');
  }
  const expected = initDataHash(params, botToken);
  const given = Uint8Array.from(hash.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
  if (!constantTimeEqual(expected, given)) {
    throw new InitDataError('hash_mismatch', 'initData is not signed with this bot token');
  }
  const authDate = Number(params.get('auth_date'));
  if (!Number.isSafeInteger(authDate) || authDate <= 0) {
    throw new InitDataError('malformed', 'initData has no valid auth_date');
  }
  if (authDate > nowSeconds + 60)
    throw new InitDataError('from_future', 'initData auth_date is in the future');
  if (nowSeconds - authDate > maxAgeSeconds) {
    throw new InitDataError('expired', `initData is older than ${maxAgeSeconds} s; reopen the app`);
  }
  const userText = params.get('user');
  let user: TelegramUser;
  try {
    user = TelegramUser.parse(JSON.parse(userText ?? ''));
  } catch {
    throw new InitDataError('no_user', 'initData carries no valid user');
  }
  const chatInstance = params.get('chat_instance');
  const startParam = params.get('start_param');
  return {
    user,
    authDate,
    ...(chatInstance === null ? {} : { chatInstance }),
    ...(startParam === null ? {} : { startParam }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// GET /api/me

export const FreeQuota = z.object({
  /** Summaries left in the current period. */
  left: z.number().int().nonnegative(),
  limit: z.number().int().nonnegative(),
  /** When the period ends and `left` returns to `limit`. */
  resetsAt: UnixSeconds,
});
export type FreeQuota = z.output<typeof FreeQuota>;

export const MeResponse = z.object({
  user: z.object({ id: z.number().int().positive(), firstName: z.string(), username: z.string().optional() }),
  balance: z.object({
    /** Credit in the app's client contract, in nanotons. */
    ton: Nanotons,
    /** Credit bought with Telegram Stars, in stars. */
    stars: z.number().int().nonnegative(),
  }),
  freeQuota: FreeQuota,
});
export type MeResponse = z.output<typeof MeResponse>;

// ---------------------------------------------------------------------------------------------------------
// GET /api/history?limit=&before=

export const JobSource = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('link'), url: z.url(), title: z.string().optional() }),
  z.object({
    kind: z.literal('channel-post'),
    chatId: z.number().int(),
    messageId: z.number().int(),
    channelTitle: z.string().optional(),
  }),
  z.object({ kind: z.literal('text') }),
]);
export type JobSource = z.output<typeof JobSource>;

export const PaidWith = z.enum(['free', 'ton', 'stars', 'sponsor']);

/** The on-chain transaction that settled a job's cumulative charge. */
export const SettlementTx = z.object({
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  lt: z.string().regex(/^\d+$/),
});

export const HistoryJob = z.object({
  jobId: JobId,
  createdAt: UnixSeconds,
  source: JobSource,
  promptTokens: TokenCount,
  completionTokens: TokenCount,
  cost: Nanotons,
  paidWith: PaidWith,
  workerId: z.string().min(1),
  /** The receipt as the worker signed it: the browser verifies it itself. */
  receipt: SignedReceipt,
  /** The worker's attestation bundle, so the browser can check the receipt key is the attested one. */
  attestation: z.unknown(),
  /** Absent until the charge is settled on chain. */
  settlement: SettlementTx.optional(),
});
export type HistoryJob = z.output<typeof HistoryJob>;

export const HistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(50).default(20),
  /** Only jobs created before this time (the previous page's last `createdAt`). */
  before: z.coerce.number().int().positive().optional(),
});
export const HistoryResponse = z.object({
  jobs: z.array(HistoryJob),
  /** The bot client's attestation policy: the browser checks each job's worker against it, at the job's time. */
  policy: AttestationPolicy,
});
export type HistoryResponse = z.output<typeof HistoryResponse>;

// ---------------------------------------------------------------------------------------------------------
// POST /api/topups, GET /api/topups/:id — TonConnect top-ups of the app's client contract

export const MIN_TOP_UP = 100_000_000n;
export const MAX_TOP_UP = 10_000_000_000_000n;

export const TopUpRequest = z.object({
  amount: Nanotons.refine((amount) => amount >= MIN_TOP_UP && amount <= MAX_TOP_UP, {
    message: `amount must be between ${MIN_TOP_UP} and ${MAX_TOP_UP} nanotons`,
  }),
});

export const TopUpStatus = z.enum(['pending', 'confirmed']);

export const TopUpIntent = z.object({
  /** The TopUp message's query id, as a decimal string: the chain watcher's credit names it. */
  id: z.string().regex(/^\d{1,20}$/),
  /** The app's client contract (user-friendly form): the transfer's destination. */
  address: z.string().min(1),
  amount: Nanotons,
  /** BOC of the TopUp body carrying the user's reference: the transfer's payload. */
  payload: Base64,
  status: TopUpStatus,
  createdAt: UnixSeconds,
  /** TonConnect's `validUntil` for the transfer. */
  validUntil: UnixSeconds,
  /** Set once confirmed: what the chain watcher credited (the value less the contract's gas) and where. */
  credited: Nanotons.optional(),
  txHash: z.string().optional(),
});
export type TopUpIntent = z.output<typeof TopUpIntent>;

/** Op code of the Client contract's TopUp message (contracts/wrappers/constants.ts `Op.topUp`). */
export const CLIENT_TOP_UP_OP = 0xc1e00001;

/**
 * The Client contract's TopUp body: `op:uint32 query_id:uint64 0:bit reference:uint64`, with the user's id
 * as the numeric reference (the layout of contracts' `storeTopUpReference`). Base64 BOC, as TonConnect takes it.
 */
export function encodeTopUpPayload(queryId: bigint, reference: bigint): string {
  const body = beginCell()
    .storeUint(CLIENT_TOP_UP_OP, 32)
    .storeUint(queryId, 64)
    .storeBit(0)
    .storeUint(reference, 64)
    .endCell();
  return toBase64(body.toBoc());
}

// ---------------------------------------------------------------------------------------------------------
// POST /api/stars/invoice

export const StarsInvoiceRequest = z.object({ stars: z.number().int().min(1).max(100_000) });
export const StarsInvoiceResponse = z.object({ link: z.url() });

// ---------------------------------------------------------------------------------------------------------
// GET /api/channels, PUT /api/channels/:chatId

export const ChannelSettingsInput = z.object({
  enabled: z.boolean(),
  minPostLength: z.number().int().min(0).max(100_000),
  language: z.union([z.literal('auto'), z.string().regex(/^[a-z]{2}$/, 'expected an ISO 639-1 code')]),
  length: z.enum(['short', 'bullets', 'detailed']),
  payer: z.enum(['reader', 'sponsor']),
  postAsComment: z.boolean(),
  /** Most the channel's readers may spend from this budget per month when `payer` is 'sponsor'. */
  sponsorBudget: Nanotons,
});
export type ChannelSettingsInput = z.output<typeof ChannelSettingsInput>;

export const AppChannel = z.object({
  chatId: z.number().int(),
  title: z.string(),
  /** Whether the bot may edit posts (needed for the summary button). */
  botCanEdit: z.boolean(),
  settings: ChannelSettingsInput,
  /** Spent from the sponsor budget this month. */
  sponsorSpent: Nanotons,
});
export type AppChannel = z.output<typeof AppChannel>;

export const ChannelsResponse = z.object({ channels: z.array(AppChannel) });
export const ChannelUpdateRequest = ChannelSettingsInput.partial();

// ---------------------------------------------------------------------------------------------------------
// POST /api/reader

export const ReaderRequest = z.object({
  url: z
    .string()
    .max(2048)
    .url()
    .refine((url) => /^https?:\/\//i.test(url), 'expected an http(s) link'),
  length: z.enum(['short', 'bullets', 'detailed']).default('bullets'),
});

export const ReaderResponse = z.object({
  summary: z.string(),
  article: z.object({
    url: z.string(),
    title: z.string(),
    siteName: z.string().optional(),
    byline: z.string().optional(),
    /** Plain text, paragraphs separated by blank lines. */
    text: z.string(),
  }),
  promptTokens: TokenCount,
  completionTokens: TokenCount,
  paidWith: PaidWith,
  jobId: JobId.optional(),
});
export type ReaderResponse = z.output<typeof ReaderResponse>;

// ---------------------------------------------------------------------------------------------------------
// GET /api/network: the proxy's listings, verified in the browser against the same policy the bot uses

export const NetworkResponse = z.object({
  workers: z.array(WorkerListing),
  models: z.array(ModelListing),
  /** What the bot's client trusts: the browser verifies each bundle against it. */
  policy: AttestationPolicy,
  /**
   * Intel collateral the app's client fetched itself (CLIENT_COLLATERAL=pccs), by worker id, for TDX workers:
   * the browser verifies with it rather than with the bundle's, which came through the proxy.
   */
  collateral: z.record(z.string(), DcapCollateral),
  fetchedAt: UnixSeconds,
});
export type NetworkResponse = z.output<typeof NetworkResponse>;

// ---------------------------------------------------------------------------------------------------------
// GET /tonconnect-manifest.json

export const TonConnectManifest = z.object({
  url: z.url(),
  name: z.string().min(1),
  iconUrl: z.url(),
});
