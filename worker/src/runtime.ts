// Wires a worker from settings: models → llama.cpp engine → attested identity → proxy link → status endpoint.
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import {
  type Attestor,
  type Clock,
  type Config,
  DevAttestor,
  type Logger,
  type ModelOffer,
  MULTIPLIER_ONE,
  Nanotons,
  systemClock,
} from '@cocoon/shared';
import { pccsCollateralFetcher } from '@cocoon/shared/attestation/collateral';
import { TdxAttestor } from '@cocoon/shared/attestation/tdx';
import { readJsonFile, writeJsonFile } from '@cocoon/shared/json-file';
import { Address } from '@ton/core';
import { z } from 'zod';
import type { Engine } from './engine/engine.js';
import { ExtractiveEngine } from './engine/extractive-engine.js';
import { LlamaEngine } from './engine/llama-engine.js';
import { formatDownloadProgress, resolveModel } from './models/resolve-model.js';
import { WorkerIdentity } from './node/identity.js';
import { ProxyLink } from './node/link.js';
import type { JobOutcome } from './node/serve-job.js';

/** `COCOON_MODEL` entries: `<path or hf: URI>[=<price coefficient, 10000 = 1×>]`. */
export interface ModelSource {
  source: string;
  priceCoefficient: number;
}

export function parseModelSources(setting: string): ModelSource[] {
  return setting
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const match = /^(.*?)(?:=(\d+))?$/.exec(entry);
      const source = match?.[1] ?? entry;
      const coefficient = match?.[2] === undefined ? 10_000 : Number(match[2]);
      if (!Number.isSafeInteger(coefficient) || coefficient < 1) {
        throw new Error(
          `COCOON_MODEL: price coefficient of ${source} must be a positive integer (10000 = 1×)`,
        );
      }
      return { source, priceCoefficient: coefficient };
    });
}

/** What the worker has done since it was first started in this data folder (kept across restarts). */
const WorkerStats = z.object({
  jobsServed: z.number().int().nonnegative(),
  jobsRefused: z.number().int().nonnegative(),
  jobsFailed: z.number().int().nonnegative(),
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  earnedNanotons: Nanotons,
});
export type WorkerStats = z.output<typeof WorkerStats>;

export interface RunningWorker {
  engine: Engine;
  identity: WorkerIdentity;
  link: ProxyLink;
  offers: Map<string, ModelOffer>;
  stats: WorkerStats;
  /** Listening port of the loopback status endpoint (0 when disabled). */
  statusPort: number;
  status(): WorkerStatusReport;
  /** Drains (finishes running jobs, takes no new ones), then frees the models. */
  stop(): Promise<void>;
}

export interface WorkerStatusReport {
  state: string;
  workerId: string | null;
  proxy: string;
  attestation: { kind: string; secure: boolean; notAfter: number };
  gpu: string;
  models: { model: string; name: string; pricePerToken: string; activeJobs: number; parallelJobs: number }[];
  activeJobs: number;
  jobsServed: number;
  jobsRefused: number;
  jobsFailed: number;
  promptTokens: number;
  completionTokens: number;
  earnedNanotons: string;
  lastRejection: string | null;
}

export interface StartWorkerOptions {
  config: Config;
  log: Logger;
  clock?: Clock;
  /** Replace llama.cpp (tests of other roles use the fake engine). */
  engine?: Engine;
  /** Replace the attestor chosen by WORKER_ATTESTATION. */
  attestor?: Attestor;
  /** Loopback status endpoint port; 0 picks a free one, null disables it. */
  statusPort?: number | null;
}

export async function startWorker(options: StartWorkerOptions): Promise<RunningWorker> {
  const { config, log } = options;
  const payoutAddress = checkPayoutAddress(config.WORKER_PAYOUT_ADDRESS);
  const clock = options.clock ?? systemClock;
  const engine = options.engine ?? (await loadEngine(config, log));
  const attestor = options.attestor ?? chooseAttestor(config, log);
  const identity = await WorkerIdentity.create({
    attestor,
    models: engine.models.map((m) => m.id),
    lifetimeSeconds: Math.round(config.WORKER_KEY_LIFETIME_HOURS * 3600),
    clock,
  });
  const offers = new Map(
    engine.models.map((m): [string, ModelOffer] => [
      m.id,
      {
        model: m.id,
        name: m.name,
        pricePerToken: (config.PRICE_PER_TOKEN * BigInt(m.priceCoefficient)) / MULTIPLIER_ONE,
        priceCoefficient: m.priceCoefficient,
        promptMultiplier: 10_000,
        completionMultiplier: 10_000,
        contextSize: m.contextSize,
      },
    ]),
  );
  const statsPath = join(config.COCOON_DATA_DIR, 'worker-stats.json');
  const stats: WorkerStats = (await readJsonFile(statsPath, WorkerStats)) ?? {
    jobsServed: 0,
    jobsRefused: 0,
    jobsFailed: 0,
    promptTokens: 0,
    completionTokens: 0,
    earnedNanotons: 0n,
  };
  let saving = Promise.resolve();
  const link = new ProxyLink({
    proxyUrl: config.PROXY_URL,
    identity,
    engine,
    offers,
    payoutAddress,
    clock,
    log,
    onJob: (outcome) => {
      count(stats, outcome);
      const snapshot = { ...stats };
      saving = saving
        .then(() => writeJsonFile(statsPath, WorkerStats, snapshot))
        .catch((error: unknown) => log.error({ err: (error as Error).message }, 'cannot save worker stats'));
    },
  });
  link.start();

  const status = (): WorkerStatusReport => ({
    state: link.state,
    workerId: link.workerId ?? null,
    proxy: config.PROXY_URL,
    attestation: {
      kind: attestor.kind,
      secure: attestor.kind !== 'dev',
      notAfter: identity.current.bundle.notAfter,
    },
    gpu: engine.gpu,
    models: engine.models.map((m) => ({
      model: m.id,
      name: m.name,
      pricePerToken: String(offers.get(m.id)?.pricePerToken ?? 0n),
      activeJobs: m.activeJobs,
      parallelJobs: m.parallelJobs,
    })),
    activeJobs: link.activeJobs,
    ...stats,
    earnedNanotons: stats.earnedNanotons.toString(),
    lastRejection: link.lastRejection ?? null,
  });

  const server =
    options.statusPort === null
      ? undefined
      : await serveStatus(options.statusPort ?? config.WORKER_STATUS_PORT, status);
  const statusPort = server === undefined ? 0 : (server.address() as { port: number }).port;
  log.info(
    {
      models: [...offers.values()].map((o) => o.name),
      gpu: engine.gpu,
      attestation: attestor.kind,
      statusPort,
    },
    'worker started',
  );

  return {
    engine,
    identity,
    link,
    offers,
    stats,
    statusPort,
    status,
    stop: async () => {
      await link.drain();
      await saving;
      await engine.close();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}

/** A worker without a valid payout address would work for nothing: refuse to start. */
export function checkPayoutAddress(address: string | undefined): string {
  if (address === undefined) {
    throw new Error(
      "WORKER_PAYOUT_ADDRESS is not set: give the TON address that receives this worker's earnings",
    );
  }
  try {
    Address.parse(address);
  } catch {
    throw new Error(
      `WORKER_PAYOUT_ADDRESS=${JSON.stringify(address)} is not a TON address (expected EQ…/UQ… or 0:<hex>)`,
    );
  }
  return address;
}

function count(stats: WorkerStats, outcome: JobOutcome): void {
  if (outcome.kind === 'refused') stats.jobsRefused += 1;
  else if (outcome.kind === 'failed') stats.jobsFailed += 1;
  else {
    stats.jobsServed += 1;
    stats.promptTokens += outcome.promptTokens;
    stats.completionTokens += outcome.completionTokens;
    stats.earnedNanotons += outcome.amount;
  }
}

/** What `npm start` serves without COCOON_MODEL: small, instruction-tuned, Apache-2.0. */
export const DEFAULT_MODEL = 'hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf';

/** A download that makes no progress for this long is given up (an offline machine fails at once anyway). */
const DOWNLOAD_STALL_MS = 20_000;

export async function loadEngine(config: Config, log: Logger): Promise<Engine> {
  const cacheDir = join(config.COCOON_DATA_DIR, 'models');
  if (config.COCOON_MODEL !== undefined) {
    const models = [];
    for (const { source, priceCoefficient } of parseModelSources(config.COCOON_MODEL)) {
      const resolved = await resolveWithProgress(source, cacheDir, config.HF_ENDPOINT, log);
      models.push({ path: resolved.path, sha256: resolved.sha256, priceCoefficient });
    }
    return LlamaEngine.create({
      gpu: config.WORKER_GPU,
      models,
      ...(config.WORKER_THREADS ? { threads: config.WORKER_THREADS } : {}),
    });
  }
  try {
    await probeHuggingFace(config.HF_ENDPOINT);
    const resolved = await resolveWithProgress(DEFAULT_MODEL, cacheDir, config.HF_ENDPOINT, log);
    return await LlamaEngine.create({
      gpu: config.WORKER_GPU,
      models: [{ path: resolved.path, sha256: resolved.sha256 }],
      ...(config.WORKER_THREADS ? { threads: config.WORKER_THREADS } : {}),
    });
  } catch (error) {
    log.warn(
      { model: DEFAULT_MODEL, reason: (error as Error).message },
      'FALLBACK: the default model cannot be had; serving the extractive engine (sentence ranking, no LLM). Set COCOON_MODEL to a GGUF file to use a real model.',
    );
    return new ExtractiveEngine();
  }
}

/** Fails fast on an offline machine, where the downloader would retry an unresolvable host for a long time. */
async function probeHuggingFace(endpoint: string): Promise<void> {
  try {
    await fetch(endpoint, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new Error(`cannot reach ${endpoint}: ${(error as Error).cause ?? (error as Error).message}`);
  }
}

/**
 * Resolves a model with a progress log. A download that makes no progress for DOWNLOAD_STALL_MS is given up
 * even if the downloader itself keeps retrying (it does, for a host that cannot be resolved).
 */
async function resolveWithProgress(
  source: string,
  cacheDir: string,
  huggingFaceEndpoint: string,
  log: Logger,
) {
  const stalled = new AbortController();
  let stallTimer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<never>((_, reject) => {
    stalled.signal.addEventListener('abort', () => reject(stalled.signal.reason), { once: true });
  });
  const armStallTimer = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(
      () => stalled.abort(new Error(`no download progress for ${DOWNLOAD_STALL_MS / 1000} s`)),
      DOWNLOAD_STALL_MS,
    );
  };
  let lastReport = 0;
  armStallTimer();
  try {
    return await Promise.race([
      resolveModel(source, {
        cacheDir,
        huggingFaceEndpoint,
        signal: stalled.signal,
        onDownloadProgress: (progress) => {
          armStallTimer();
          if (Date.now() - lastReport < 1000) return;
          lastReport = Date.now();
          log.info({ model: source }, `downloading ${formatDownloadProgress(progress)}`);
        },
      }),
      giveUp,
    ]);
  } finally {
    clearTimeout(stallTimer);
  }
}

function chooseAttestor(config: Config, log: Logger): Attestor {
  if (config.WORKER_ATTESTATION === 'tdx') {
    return new TdxAttestor({ fetchCollateral: pccsCollateralFetcher(config.PCCS_URL) });
  }
  log.warn(
    'INSECURE: dev attestation (no TEE). Clients refuse this worker unless their policy allows dev workers.',
  );
  return new DevAttestor();
}

async function serveStatus(port: number, status: () => WorkerStatusReport): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status()));
    } else {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'GET /status only' }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Loopback only: the status names earnings and load, which are the GPU owner's business.
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}
