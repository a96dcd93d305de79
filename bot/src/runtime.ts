// Node-only by nature: the Telegram side of the network (bot and Mini App server) in one process.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Clock, type CocoonClient, systemClock } from '@cocoon/shared';
import { createLogger, type Logger } from '@cocoon/shared/log';
import type { ReaderResponse } from '@cocoon/shared/protocol/app-api';
import type { Store } from '@cocoon/shared/store';
import type { UserFromGetMe } from 'grammy/types';
import { ChainCreditInput, LedgerAppStore, PAID_WITH } from './app/ledger-store.js';
import {
  type AppServerOptions,
  BotNotRunningError,
  createAppServer,
  type NetworkSource,
  ReaderError,
  type ReaderJob,
} from './app/server.js';
import type { ChainCredit } from './app/store.js';
import { createBotServices } from './bot.js';
import { linkFailureText, summarizeLink } from './handlers/links.js';
import { createStarsTopUpLink } from './handlers/payments.js';
import { type BotServices, type BotSettings, userSettings } from './handlers/services.js';
import { ExtractError } from './links/extract.js';
import { FetchPageError } from './links/fetch-page.js';
import type { ReadArticle } from './links/read-article.js';
import { type SummaryQueue, TelegramMetrics } from './metrics.js';
import { PaymentRequiredError } from './payments/billing.js';
import { type BotWebhook, confirmCredit, type RunningBot, runBot, webhookPath } from './start.js';
import { SqlBotStore } from './store/sql.js';
import type { ChargeSettlement } from './store/types.js';
import { NetworkSummarizer } from './summarize/network-summarizer.js';
import { SummarizeError, type Summarizer } from './summarize/types.js';

/** How summaries are made: through the network with the bot's own client account, or (tests) a given summarizer. */
export type TelegramAppSummaries = { client: CocoonClient } | { summarizer: Summarizer };

export type TelegramAppOptions<DB = unknown> = TelegramAppSummaries & {
  /** shared's Store, already open (of any schema): the bot migrates its own tables into it. */
  store: Store<DB>;
  /** BOT_TOKEN; without it no bot runs and the app's Bot API endpoints answer 503. */
  token?: string;
  /** The token initData is checked against: BOT_TOKEN, or a local development token when it is unset. */
  appToken: string;
  /** Another Bot API server (a local one, or the recording one in tests). */
  apiRoot?: string;
  /** Skips getMe at start (tests, or a known bot). */
  botInfo?: UserFromGetMe;
  /** WEBHOOK_URL (and WEBHOOK_SECRET): Telegram pushes updates to this server instead of the bot polling. */
  webhook?: BotWebhook;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The app's public https origin (TonConnect manifest, the bot's Mini App button); the local URL by default. */
  publicUrl?: string;
  /** The built Mini App (miniapp/dist); when it is not built, `/` says so and the API still works. */
  staticDir: string;
  /** The bot's Client contract (user-friendly form): where TonConnect top-ups go. */
  clientContractAddress: string;
  /** The proxy's listings. */
  network: NetworkSource;
  /** The attestation policy the bot's client trusts. */
  policy: AppServerOptions['policy'];
  settings?: Partial<BotSettings>;
  /** Fetches and extracts linked articles; the SSRF-guarded fetcher for the public internet by default. */
  readArticle?: ReadArticle;
  /** METRICS_TOKEN: reads the server's `/metrics` from anywhere; without it only this host can. */
  metricsToken?: string;
  clock?: Clock;
  logger?: Logger;
};

export interface RunningTelegramApp {
  /** Where the Mini App server listens (http://host:port). */
  url: string;
  /** The running bot, when a token was given. */
  bot?: RunningBot;
  /**
   * The chain watcher's report of a TopUp of the client contract: credits the user once per (lt, hash),
   * confirms their top-up intent and, when it credited and the bot runs, tells the user. Returns whether
   * it credited. A TopUp that names no user or carries nothing is refused (counted, not thrown, so anyone's
   * odd transfer cannot stall the watcher on it).
   */
  creditTopUp(credit: ChainCredit): Promise<boolean>;
  /**
   * The chain watcher's report of a Charge the client contract accepted: every job whose voucher total is at
   * most the charged `total` is settled by that transaction. Idempotent; returns how many jobs it settled.
   */
  settleCharge(charge: ChargeSettlement & { total: bigint }): Promise<number>;
  /**
   * The chain watcher's report of a Charge undone (the Proxy contract refused its payment): the jobs it settled
   * are unsettled again, for a later Charge to settle. Idempotent; returns how many.
   */
  undoCharge(charge: { queryId: bigint }): Promise<number>;
  /** Stops the bot and the server. */
  stop(): Promise<void>;
}

/**
 * Starts the Telegram side of the network: the bot (when a token is set) and the Mini App's server over
 * one set of services, so both share the store, the ledger, summaries and billing.
 */
export async function startTelegramApp<DB>(options: TelegramAppOptions<DB>): Promise<RunningTelegramApp> {
  const logger = options.logger ?? createLogger('bot');
  const clock = options.clock ?? systemClock;
  const store = await SqlBotStore.open(options.store as Store<unknown>);
  let summarizer: Summarizer;
  let summaryQueue: SummaryQueue | undefined;
  if ('summarizer' in options) summarizer = options.summarizer;
  else {
    const network = new NetworkSummarizer({ client: options.client });
    summarizer = network;
    summaryQueue = () => network.queue();
  }
  const metrics = new TelegramMetrics(summaryQueue === undefined ? {} : { summaryQueue });
  const httpsPublicUrl = options.publicUrl?.startsWith('https://') ? options.publicUrl : undefined;
  const services = createBotServices(
    {
      settings: {
        ...(httpsPublicUrl === undefined ? {} : { miniAppUrl: httpsPublicUrl }),
        ...options.settings,
      },
    },
    {
      store,
      summarizer,
      clock,
      logger,
      metrics,
      ...(options.readArticle === undefined ? {} : { readArticle: options.readArticle }),
    },
  );
  const appStore = new LedgerAppStore(store, {
    freeDailySummaries: services.settings.freeDailySummaries,
    nanotonsPerStar: services.settings.nanotonsPerStar,
    clock,
  });

  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

  let bot: RunningBot | undefined;
  try {
    const botApi = () => {
      if (bot === undefined) throw new BotNotRunningError();
      return bot.bot.api;
    };
    const webhookRoute = options.webhook === undefined ? undefined : webhookPath(options.webhook.url);
    const staticBuilt = existsSync(join(options.staticDir, 'index.html'));
    const app = createAppServer({
      botToken: options.appToken,
      store: appStore,
      clientContractAddress: options.clientContractAddress,
      publicUrl: options.publicUrl ?? url,
      ...(staticBuilt ? { staticDir: options.staticDir } : {}),
      getChatMember: (chatId, userId) => botApi().getChatMember(chatId, userId),
      createStarsInvoice: async ({ stars, userId }) =>
        createStarsTopUpLink(botApi(), stars, services.settings, await services.locales.of(userId)),
      reader: (job) => readLink(services, job),
      network: options.network,
      policy: options.policy,
      ...(webhookRoute === undefined
        ? {}
        : {
            botWebhook: {
              path: webhookRoute,
              handle: (req, res) => {
                if (bot?.webhook === undefined) throw new BotNotRunningError();
                return bot.webhook.handle(req, res);
              },
            },
          }),
      metrics,
      ...(options.metricsToken === undefined ? {} : { metricsToken: options.metricsToken }),
      clock,
      logger,
    });
    if (!staticBuilt) {
      const message = `The Mini App is not built: no index.html in ${options.staticDir} (run npm run build -w @cocoon/miniapp). The API under /api works.`;
      app.get('/{*path}', (_req, res) => {
        res.status(503).type('text/plain').send(message);
      });
      logger.warn({ staticDir: options.staticDir }, 'the Mini App is not built; serving the API only');
    }
    // The app listens before the bot starts: Telegram may push updates as soon as the webhook is set.
    server.on('request', app);
    if (options.token !== undefined) {
      bot = await runBot(
        {
          token: options.token,
          ...(options.apiRoot === undefined ? {} : { apiRoot: options.apiRoot }),
          ...(options.botInfo === undefined ? {} : { botInfo: options.botInfo }),
          ...(options.webhook === undefined ? {} : { webhook: options.webhook }),
        },
        services,
      );
    } else {
      logger.warn('BOT_TOKEN is not set: the bot does not run; the Mini App server does');
    }
  } catch (error) {
    await bot?.stop();
    await closeServer(server);
    throw error;
  }
  logger.info({ url, bot: bot !== undefined }, 'Mini App server listening');

  return {
    url,
    ...(bot === undefined ? {} : { bot }),
    async creditTopUp(credit) {
      if (!ChainCreditInput.safeParse(credit).success) {
        metrics.refuse('top_up_forged');
        logger.warn(
          { lt: credit.lt, hash: credit.hash },
          'refused a TopUp that names no user or carries nothing',
        );
        return false;
      }
      const added = await appStore.recordCredit(credit);
      metrics.credit('ton', credit.amount, added);
      if (added && bot !== undefined) await confirmCredit(bot.bot, services, credit);
      else if (added) logger.info({ userId: credit.userId }, 'TON top-up credited');
      return added;
    },
    async settleCharge({ total, ...charge }) {
      const settled = await store.settleJobsUpTo(total, charge);
      if (settled > 0) logger.info({ settled, lt: charge.lt, hash: charge.hash }, 'jobs settled on chain');
      return settled;
    },
    async undoCharge({ queryId }) {
      const unsettled = await store.unsettleCharge(queryId);
      if (unsettled > 0)
        logger.warn(
          { unsettled, queryId: queryId.toString() },
          'a charge was undone on chain (the proxy refused its payment); its jobs are unsettled again',
        );
      return unsettled;
    },
    async stop() {
      await bot?.stop();
      await closeServer(server);
    },
  };
}

function closeServer(server: ReturnType<typeof createServer>): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * The Mini App's reader: the bot's link path (the same summary ids, cache, billing and job record), with the
 * article read once, since the reader shows its text. A summary made for someone else, or stored, is free.
 * A reader who disconnects stops the page fetch; the summary goes on, as others may be waiting for it.
 */
async function readLink(
  services: BotServices,
  { userId, url, length, signal }: ReaderJob,
): Promise<ReaderResponse> {
  const startedAt = services.clock.now();
  try {
    const article = await services.readArticle(url, signal);
    const { language } = await userSettings(services, userId);
    const summary = await summarizeLink(
      { ...services, readArticle: async () => article },
      url,
      { language, length },
      { userId },
    );
    const job = (await services.store.recentJobs(userId, 10)).find(
      (record) => record.summaryId === summary.id && record.at >= startedAt,
    );
    return {
      summary: summary.summary,
      article: {
        url: article.url,
        title: article.title,
        ...(article.siteName === undefined ? {} : { siteName: article.siteName }),
        ...(article.byline === undefined ? {} : { byline: article.byline }),
        text: article.text,
      },
      promptTokens: job?.promptTokens ?? 0,
      completionTokens: job?.completionTokens ?? 0,
      paidWith: job === undefined ? 'free' : PAID_WITH[job.paidBy],
      ...(job?.proof === undefined ? {} : { jobId: job.proof.jobId }),
    };
  } catch (error) {
    const code =
      error instanceof FetchPageError || error instanceof ExtractError
        ? 'bad_link'
        : error instanceof PaymentRequiredError
          ? 'no_credit'
          : undefined;
    if (code !== undefined) {
      const t = await services.locales.translatorOf(userId);
      throw new ReaderError(code, linkFailureText(t, error, services));
    }
    if (error instanceof SummarizeError && (error.code === 'unavailable' || error.code === 'busy')) {
      throw new ReaderError('unavailable', error.message);
    }
    throw error;
  }
}
