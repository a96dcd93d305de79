import { createHmac } from 'node:crypto';
import { type Clock, systemClock } from '@cocoon/shared';
import { createLogger, type Logger } from '@cocoon/shared/log';
import { autoRetry } from '@grammyjs/auto-retry';
import { type RunnerHandle, run } from '@grammyjs/runner';
import type { Request, Response } from 'express';
import { type Bot, webhookCallback } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import { type BotConfig, createBotServices, createBotWithServices } from './bot.js';
import { type BotServices, describeError } from './handlers/services.js';
import type { BotContext } from './i18n.js';
import type { ReadArticle } from './links/read-article.js';
import { creditTonTopUp, type TonTopUp } from './payments/billing.js';
import { formatTon } from './payments/pricing.js';
import type { BotStore } from './store/types.js';
import type { Summarizer } from './summarize/types.js';

export interface StartBotOptions {
  token: string;
  store: BotStore;
  summarizer: Summarizer;
  apiRoot?: string;
  botInfo?: UserFromGetMe;
  cacheSummaries?: boolean;
  settings?: BotConfig['settings'];
  readArticle?: ReadArticle;
  clock?: Clock;
  logger?: Logger;
}

/**
 * Telegram pushes updates to this https URL instead of the bot polling for them. The secret token it sends
 * back with each update is `secret`, or one derived from the bot token (stable across restarts).
 */
export interface BotWebhook {
  url: string;
  secret?: string;
}

export interface RunningBot {
  bot: Bot<BotContext>;
  /** With a webhook: where its updates arrive, and the express handler that checks their secret and runs them. */
  webhook?: { path: string; handle: (req: Request, res: Response) => Promise<void> };
  /** Credits a TON top-up once per (lt, hash) and tells the user; the chain watcher calls it. */
  creditTonTopUp(topUp: TonTopUp): Promise<boolean>;
  /** Stops polling (and waits for the updates in hand), and stops purging expired summaries. */
  stop(): Promise<void>;
}

/** Every update kind the bot handles: set explicitly, since Telegram remembers the last list it was given. */
const ALLOWED_UPDATES = [
  'message',
  'edited_message',
  'channel_post',
  'edited_channel_post',
  'callback_query',
  'inline_query',
  'my_chat_member',
  'pre_checkout_query',
] as const;

const PURGE_INTERVAL_MS = 10 * 60 * 1000;
/**
 * A webhook request answers Telegram after this long even if its update is still being handled (a tap may
 * wait for its summary): a slow answer would make Telegram send the update again.
 */
const WEBHOOK_ANSWER_MS = 5_000;

/**
 * Starts the bot with long polling through grammY's runner: updates are handled concurrently, one after
 * another per chat (and per user for taps, queries and payments); the Bot API's flood waits and transient
 * errors are retried. Expired summaries are purged every ten minutes.
 */
export function startBot(options: StartBotOptions): Promise<RunningBot> {
  const services = createBotServices(
    {
      ...(options.cacheSummaries === undefined ? {} : { cacheSummaries: options.cacheSummaries }),
      ...(options.settings === undefined ? {} : { settings: options.settings }),
    },
    {
      store: options.store,
      summarizer: options.summarizer,
      clock: options.clock ?? systemClock,
      logger: options.logger ?? createLogger('bot'),
      ...(options.readArticle === undefined ? {} : { readArticle: options.readArticle }),
    },
  );
  return runBot(options, services);
}

/** The secret token Telegram sends with webhook updates, derived from the bot token when none is configured. */
export function webhookSecret(token: string, configured?: string): string {
  return configured ?? createHmac('sha256', token).update('cocoon/bot/webhook-secret/v1').digest('base64url');
}

/** The path of the app server that receives the webhook's updates: the URL's own, which must not be the app's. */
export function webhookPath(url: string): string {
  const { pathname } = new URL(url);
  if (pathname === '/' || pathname === '/api' || pathname.startsWith('/api/')) {
    throw new Error(
      'WEBHOOK_URL needs a path of its own outside /api, such as https://bot.example.org/telegram/updates',
    );
  }
  return pathname;
}

/**
 * Starts the bot (as startBot does) over services built already, shared with the Mini App's server. With a
 * webhook, it registers the URL with Telegram and returns the handler to mount there; without one, it
 * removes any webhook left from an earlier run (Telegram refuses getUpdates while one is set) and polls.
 */
export async function runBot(
  config: Pick<StartBotOptions, 'token' | 'apiRoot' | 'botInfo'> & { webhook?: BotWebhook },
  services: BotServices,
): Promise<RunningBot> {
  const { store, clock, logger, metrics } = services;
  const bot = createBotWithServices(
    {
      token: config.token,
      ...(config.apiRoot === undefined ? {} : { apiRoot: config.apiRoot }),
      ...(config.botInfo === undefined ? {} : { botInfo: config.botInfo }),
    },
    services,
  );
  bot.api.config.use(autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 60 }));

  let runner: RunnerHandle | undefined;
  let webhook: RunningBot['webhook'];
  if (config.webhook === undefined) {
    await bot.api.deleteWebhook();
    runner = run(bot, { runner: { fetch: { allowed_updates: ALLOWED_UPDATES } } });
  } else {
    await bot.init(); // getMe now: a wrong token fails the start, not the first update
    const secret = webhookSecret(config.token, config.webhook.secret);
    const handleUpdate = webhookCallback(bot, 'express', {
      secretToken: secret,
      onTimeout: 'return',
      timeoutMilliseconds: WEBHOOK_ANSWER_MS,
    });
    webhook = {
      path: webhookPath(config.webhook.url),
      async handle(req, res) {
        await handleUpdate(req, res);
        // grammY answers a wrong or missing secret token with 401 and nothing else does.
        if (res.statusCode === 401) metrics.refuse('webhook_bad_secret');
      },
    };
    await bot.api.setWebhook(config.webhook.url, { secret_token: secret, allowed_updates: ALLOWED_UPDATES });
    logger.info({ origin: new URL(config.webhook.url).origin }, 'webhook set: Telegram pushes updates');
  }

  const purge = async () => {
    try {
      const deleted = await store.deleteExpiredSummaries(clock.now());
      if (deleted > 0) logger.debug({ deleted }, 'purged expired summaries');
    } catch (error) {
      logger.warn({ error: describeError(error) }, 'could not purge expired summaries');
    }
  };
  const purgeTimer = setInterval(() => void purge(), PURGE_INTERVAL_MS);
  purgeTimer.unref();
  void purge();

  return {
    bot,
    ...(webhook === undefined ? {} : { webhook }),
    async creditTonTopUp(topUp) {
      const added = await creditTonTopUp(store, topUp, clock);
      metrics.credit('ton', topUp.amount, added);
      if (added) await confirmCredit(bot, services, topUp);
      return added;
    },
    async stop() {
      clearInterval(purgeTimer);
      if (runner?.isRunning()) await runner.stop();
    },
  };
}

/** Tells the user a top-up was credited, with the new balance; a failed message is only logged. */
export async function confirmCredit(
  bot: Pick<Bot, 'api'>,
  { store, locales, logger }: Pick<BotServices, 'store' | 'locales' | 'logger'>,
  topUp: Pick<TonTopUp, 'userId' | 'amount'>,
): Promise<void> {
  logger.info({ userId: topUp.userId }, 'TON top-up credited');
  const [balance, t] = await Promise.all([store.balance(topUp.userId), locales.translatorOf(topUp.userId)]);
  await bot.api
    .sendMessage(
      topUp.userId,
      t('credited', { amount: formatTon(topUp.amount), balance: formatTon(balance) }),
    )
    .catch((error: unknown) => logger.warn({ error: describeError(error) }, 'could not confirm a top-up'));
}
