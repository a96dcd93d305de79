// The composition root: the whole network in one process on embedded defaults. Every role is started
// through its own package's public API; only this file knows how they fit together.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CocoonProxy, fixedAllowance, StoreCredit } from '@cocoon/proxy';
import { type AttestationPolicy, CocoonClient, type Config } from '@cocoon/shared';
import type { Logger } from '@cocoon/shared/log';
import { openStore, type Store } from '@cocoon/shared/store';
import { type Engine, loadEngine, type RunningWorker, startWorker } from '@cocoon/worker';
import { loadOrCreateClientKey } from './client-key.js';
import { createGateway } from './gateway.js';

export interface NetworkOptions {
  config: Config;
  log: Logger;
  /** Replace llama.cpp in the embedded worker (tests of other parts use the fake engine). */
  engine?: Engine;
  /** Ports of 0 pick free ones (tests). */
  ports?: { proxy?: number; gateway?: number; workerStatus?: number | null };
}

export interface RunningNetwork {
  store: Store<never>;
  proxy: CocoonProxy;
  worker: RunningWorker;
  client: CocoonClient;
  gatewayUrl: string;
  stop(): Promise<void>;
}

/** What the embedded network trusts: the worker's own models, and dev attestation when allowed. */
function embeddedPolicy(config: Config, engine: Engine): AttestationPolicy {
  return {
    allowDev: config.ATTESTATION_ALLOW_DEV,
    imageHashes: [],
    models: engine.models.map((m) => m.id),
    acceptedTcbStatuses: ['UpToDate'],
  };
}

export async function startNetwork({
  config,
  log,
  engine,
  ports = {},
}: NetworkOptions): Promise<RunningNetwork> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.reverse())
      await step().catch((error: unknown) => log.error({ err: (error as Error).message }, 'stop failed'));
  };
  try {
    const store = await openStore<never>({
      ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}),
      dataDir: config.COCOON_DATA_DIR,
      log,
    });
    stops.push(() => store.close());

    const workerLog = log.child({ role: 'worker' });
    const workerEngine = engine ?? (await loadEngine(config, workerLog));
    const policy = embeddedPolicy(config, workerEngine);
    const proxy = await CocoonProxy.start(
      {
        store: store as never,
        policySource: { read: async () => policy },
        credit: new StoreCredit(store.db as never, fixedAllowance(LOCAL_CREDIT_LINE)),
        log: log.child({ role: 'proxy' }),
      },
      { host: config.PROXY_HOST, port: ports.proxy ?? config.PROXY_PORT },
    );
    stops.push(() => proxy.close());

    const worker = await startWorker({
      config: { ...config, PROXY_URL: proxy.url },
      log: workerLog,
      engine: workerEngine,
      statusPort: ports.workerStatus === undefined ? config.WORKER_STATUS_PORT : ports.workerStatus,
    });
    stops.push(() => worker.stop());

    const clientKey = await loadOrCreateClientKey(config.COCOON_DATA_DIR);
    const client = new CocoonClient({ proxyUrl: proxy.url, clientKey, policy });
    const gateway = createGateway({
      client,
      ...(config.GATEWAY_API_KEY ? { apiKey: config.GATEWAY_API_KEY } : {}),
    });
    const server: Server = await new Promise((resolve, reject) => {
      const listening = gateway.listen(ports.gateway ?? config.GATEWAY_PORT, config.GATEWAY_HOST, () =>
        resolve(listening),
      );
      listening.once('error', reject);
    });
    stops.push(() => new Promise((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    return { store, proxy, worker, client, gatewayUrl: `http://${config.GATEWAY_HOST}:${port}`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * FALLBACK until the proxy reads clients' deposits from the chain: every client may run up this much.
 * Logged and shown as such by `npm start`.
 */
export const LOCAL_CREDIT_LINE = 1_000_000_000_000n;

export const dataPath = (config: Config, ...parts: string[]) => join(config.COCOON_DATA_DIR, ...parts);
