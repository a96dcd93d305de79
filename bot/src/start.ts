import { type Clock, systemClock } from '@cocoon/shared';
import { createLogger, type Logger } from '@cocoon/shared/log';
import { autoRetry } from '@grammyjs/auto-retry';
import { run } from '@grammyjs/runner';
import type { Bot } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import { type BotConfig, createBotServices, createBotWithServices } from './bot.js';
import { type BotServices, describeError } from './handlers/services.js';
import type { ReadArticle } from './links/read-article.js';
import { creditTonTopUp, type TonTopUp } from './payments/billing.js';
import type { BotStore } from './store/types.js';
import type { Summarizer } from './summarize/types.js';
import { texts } from './texts.js';

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

export interface RunningBot {
  bot: Bot;
  /** Credits a TON top-up once per (lt, hash) and tells the user; the chain watcher calls it. */
  creditTonTopUp(topUp: TonTopUp): Promise<boolean>;
  /** Stops polling, waits for the updates in hand, and stops purging expired summaries. */
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
 * Starts the bot with long polling through grammY's runner: updates are handled concurrently, one after
 * another per chat (and per user for taps, queries and payments); the Bot API's flood waits and transient
 * errors are retried. Expired summaries are purged every ten minutes.
 */
export function startBot(options: StartBotOptions): RunningBot {
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

/** Starts the bot (as startBot does) over services built already, shared with the Mini App's server. */
export function runBot(
  config: Pick<StartBotOptions, 'token' | 'apiRoot' | 'botInfo'>,
  services: BotServices,
): RunningBot {
  const { store, clock, logger } = services;
  const bot = createBotWithServices(
    {
      token: config.token,
      ...(config.apiRoot === undefined ? {} : { apiRoot: config.apiRoot }),
      ...(config.botInfo === undefined ? {} : { botInfo: config.botInfo }),
    },
    services,
  );
  bot.api.config.use(autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 60 }));
  const runner = run(bot, { runner: { fetch: { allowed_updates: ALLOWED_UPDATES } } });

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
    async creditTonTopUp(topUp) {
      const added = await creditTonTopUp(store, topUp, clock);
      if (added) await confirmCredit(bot, services, topUp);
      return added;
    },
    async stop() {
      clearInterval(purgeTimer);
      if (runner.isRunning()) await runner.stop();
    },
  };
}

/** Tells the user a top-up was credited, with the new balance; a failed message is only logged. */
export async function confirmCredit(
  bot: Bot,
  { store, logger }: Pick<BotServices, 'store' | 'logger'>,
  topUp: Pick<TonTopUp, 'userId' | 'amount'>,
): Promise<void> {
  logger.info({ userId: topUp.userId }, 'TON top-up credited');
  const balance = await store.balance(topUp.userId);
  await bot.api
    .sendMessage(topUp.userId, texts.credited(topUp.amount, balance))
    .catch((error: unknown) => logger.warn({ error: describeError(error) }, 'could not confirm a top-up'));
}
