// The Telegram side of a network, as `npm start` embeds it and `cocoon app` runs it alone: the Mini App
// server and the bot (with BOT_TOKEN) over one store, and the chain watcher over the app's Client contract.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BotSettings, type ReadArticle, type RunningTelegramApp, startTelegramApp } from '@cocoon/bot';
import { ClientContractWatcher, FileCursorStore, topUpCredit } from '@cocoon/contracts';
import type { CocoonClient, DcapCollateral, WorkerListing } from '@cocoon/shared';
import { loadOrCreateKey } from '@cocoon/shared/key-file';
import type { Store } from '@cocoon/shared/store';
import { Address } from '@ton/core';
import { type LocalClientOptions, localClient } from './client-account.js';

export type AppRoleOptions = Omit<LocalClientOptions, 'name' | 'owner'> & {
  /** Opened by the caller (of any schema): the bot migrates its own tables into it. */
  store: Store<never>;
  /** Where the local development token is kept, used for initData when BOT_TOKEN is unset. */
  tokenDir: string;
  /** 0 picks a free port. */
  port: number;
  /** Another Bot API server (tests use a recording one). */
  botApiRoot?: string;
  readArticle?: ReadArticle;
  botSettings?: Partial<BotSettings>;
};

export interface RunningAppRole {
  telegram: RunningTelegramApp;
  /**
   * The app's own client account (key, voucher totals and watcher cursor in config's data folder): users'
   * credit is the app's ledger; the app pays the network from this Client contract, where users' TonConnect
   * top-ups go too.
   */
  account: { owner: string; contract: string };
  stop(): Promise<void>;
}

/** The name of the app's client key and voucher totals in the data folder. */
const APP_ACCOUNT = 'app';

/** How often the chain watcher looks for users' top-ups and the proxy's charges. */
const TOP_UP_POLL_MS = 2_000;

export async function startAppRole(options: AppRoleOptions): Promise<RunningAppRole> {
  const { config, log, policy } = options;
  const { client, account } = await localClient({ ...options, name: APP_ACCOUNT });
  const telegram = await startTelegramApp({
    store: options.store,
    client,
    ...(config.BOT_TOKEN ? { token: config.BOT_TOKEN } : {}),
    ...(config.METRICS_TOKEN ? { metricsToken: config.METRICS_TOKEN } : {}),
    ...(config.WEBHOOK_URL
      ? {
          webhook: {
            url: config.WEBHOOK_URL,
            ...(config.WEBHOOK_SECRET ? { secret: config.WEBHOOK_SECRET } : {}),
          },
        }
      : {}),
    appToken: config.BOT_TOKEN ?? (await localAppToken(options.tokenDir)),
    ...(options.botApiRoot ? { apiRoot: options.botApiRoot } : {}),
    ...(options.readArticle ? { readArticle: options.readArticle } : {}),
    ...(options.botSettings ? { settings: options.botSettings } : {}),
    host: config.APP_HOST,
    port: options.port,
    ...(config.PUBLIC_URL ? { publicUrl: config.PUBLIC_URL } : {}),
    staticDir: fileURLToPath(new URL('../../miniapp/dist', import.meta.url)),
    clientContractAddress: account.contract,
    network: () => proxyListings(client),
    policy: () => policy.read(),
    logger: log.child({ role: 'app' }),
  });
  // One cursor over the app's Client contract: users' top-ups credit the ledger, the proxy's charges settle jobs.
  const watcher = new ClientContractWatcher({
    chain: options.chain,
    client: Address.parse(account.contract),
    cursor: new FileCursorStore(join(config.COCOON_DATA_DIR, 'app-topups-cursor.json')),
    onTopUp: async (event) => {
      // Only top-ups that name a user (the Mini App's payload) are users' credit; others fund the app itself.
      if (event.reference === undefined || typeof event.reference !== 'bigint') return;
      await telegram.creditTopUp({
        lt: event.lt,
        hash: event.hash,
        userId: Number(event.reference),
        queryId: event.queryId,
        amount: topUpCredit(event.value),
      });
    },
    onCharge: async ({ total, lt, hash, queryId }) => {
      await telegram.settleCharge({ total, lt, hash, queryId });
    },
    onChargeUndone: async ({ queryId }) => {
      await telegram.undoCharge({ queryId });
    },
  });
  watcher.start(TOP_UP_POLL_MS, (error) =>
    log.error({ err: (error as Error).message }, 'client contract watcher failed'),
  );
  return {
    telegram,
    account,
    stop: async () => {
      watcher.stop();
      await telegram.stop();
    },
  };
}

/**
 * Without BOT_TOKEN nothing from Telegram can reach the app, but its server still checks initData: against a
 * local random token kept in the data folder (the Mini App's dev mock signs with it).
 */
export async function localAppToken(dataDir: string): Promise<string> {
  const key = await loadOrCreateKey(dataDir, 'app-dev-token');
  return `0:${Buffer.from(key.secretKey).toString('base64url')}`;
}

/** What the Mini App's network view shows: every model's listings, each worker once. */
async function proxyListings(client: CocoonClient) {
  const models = await client.models();
  const byId = new Map<string, WorkerListing>();
  for (const model of models)
    for (const listing of await client.listings(model.model)) byId.set(listing.workerId, listing);
  const workers = [...byId.values()];
  // The Mini App verifies TDX workers with the collateral the app's client trusts, not only the bundle's.
  const collateral: Record<string, DcapCollateral> = {};
  await Promise.all(
    workers.map(async (worker) => {
      const fetched = await client.collateralFor(worker.bundle);
      if (fetched !== undefined) collateral[worker.workerId] = fetched;
    }),
  );
  return { models, workers, collateral };
}
