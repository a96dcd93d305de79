import { type Clock, systemClock } from '@cocoon/shared';
import { createLogger, type Logger } from '@cocoon/shared/log';
import { sequentialize } from '@grammyjs/runner';
import { Bot, type Context } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import { account } from './handlers/account.js';
import { channelPosts } from './handlers/channel.js';
import { channelSettings } from './handlers/channel-settings.js';
import { commands } from './handlers/commands.js';
import { inlineMode } from './handlers/inline.js';
import { payments } from './handlers/payments.js';
import { privateChat } from './handlers/private-chat.js';
import { type BotServices, BotSettings, describeError } from './handlers/services.js';
import { type BotContext, localize, UserLocales } from './i18n.js';
import { FetchPageError } from './links/fetch-page.js';
import { createArticleReader, type ReadArticle } from './links/read-article.js';
import { TelegramMetrics } from './metrics.js';
import { Billing } from './payments/billing.js';
import { PendingJobs } from './payments/pending-jobs.js';
import type { BotStore } from './store/types.js';
import { SummaryService } from './summarize/service.js';
import type { Summarizer } from './summarize/types.js';

export interface BotConfig {
  token: string;
  /** Skips getMe at start (tests, or a known bot). */
  botInfo?: UserFromGetMe;
  /** Another Bot API server (a local one, or the recording one in tests). */
  apiRoot?: string;
  /** Keep and reuse finished summaries (on unless the operator turns it off). */
  cacheSummaries?: boolean;
  settings?: Partial<BotSettings>;
}

export interface BotDependencies {
  store: BotStore;
  summarizer: Summarizer;
  /** Fetches and extracts linked articles; the SSRF-guarded fetcher for the public internet by default. */
  readArticle?: ReadArticle;
  clock?: Clock;
  logger?: Logger;
  /** Where refusals, credits and summaries are counted (shared with the Mini App's server); new by default. */
  metrics?: TelegramMetrics;
}

export const DEFAULT_BOT_SETTINGS: BotSettings = {
  minTextLength: 200,
  tapWaitMs: 8_000,
  inlineWaitMs: 8_000,
  privateLanguage: 'auto',
  privateLength: 'bullets',
  freeDailySummaries: 5,
  nanotonsPerStar: 4_000_000n,
  starsPackages: [50, 250, 1000],
  confirmAboveChars: 4_000,
  confirmWaitMs: 15 * 60 * 1000,
  summaryTtlMs: 48 * 60 * 60 * 1000,
};

/**
 * Which updates must be handled one after another: a chat's messages in order; taps, inline queries and
 * payments per user (so the taps of many readers under one channel post run at once).
 */
export function updateSequenceKey(ctx: Context): string | undefined {
  const perUser = ctx.callbackQuery ?? ctx.inlineQuery ?? ctx.preCheckoutQuery ?? ctx.chosenInlineResult;
  if (perUser !== undefined) return `user:${perUser.from.id}`;
  return ctx.chat === undefined ? undefined : `chat:${ctx.chat.id}`;
}

/**
 * What the bot's handlers share (store, summaries, billing, article reader), built once: the bot and the
 * Mini App's reader use the same services, so a link summarized in one is reused and billed once.
 */
export function createBotServices(
  config: Pick<BotConfig, 'cacheSummaries' | 'settings'>,
  dependencies: BotDependencies,
): BotServices {
  const clock = dependencies.clock ?? systemClock;
  const settings = BotSettings.parse({ ...DEFAULT_BOT_SETTINGS, ...config.settings });
  const billing = new Billing(dependencies.store, { freeDailySummaries: settings.freeDailySummaries, clock });
  const metrics = dependencies.metrics ?? new TelegramMetrics();
  return {
    store: dependencies.store,
    summaries: new SummaryService(dependencies.store, dependencies.summarizer, {
      clock,
      cache: config.cacheSummaries ?? true,
      ttlMs: settings.summaryTtlMs,
      billing,
      metrics,
    }),
    billing,
    pendingJobs: new PendingJobs(clock, settings.confirmWaitMs),
    readArticle: countingRefusedAddresses(dependencies.readArticle ?? createArticleReader(), metrics),
    locales: new UserLocales(dependencies.store),
    clock,
    logger: dependencies.logger ?? createLogger('bot'),
    metrics,
    settings,
  };
}

/** The reader, counting the links it refused to fetch because they lead to a non-public address or port. */
function countingRefusedAddresses(readArticle: ReadArticle, metrics: TelegramMetrics): ReadArticle {
  return async (url, signal) => {
    try {
      return await readArticle(url, signal);
    } catch (error) {
      if (error instanceof FetchPageError && error.code === 'refused-address') metrics.refuse('ssrf_refused');
      throw error;
    }
  };
}

/** The bot: small composers for commands, channels, inline mode and private chats, over shared services. */
export function createBot(config: BotConfig, dependencies: BotDependencies): Bot<BotContext> {
  return createBotWithServices(config, createBotServices(config, dependencies));
}

/** The bot over services built already (shared with the Mini App's server). */
export function createBotWithServices(
  config: Pick<BotConfig, 'token' | 'botInfo' | 'apiRoot'>,
  services: BotServices,
): Bot<BotContext> {
  const bot = new Bot<BotContext>(config.token, {
    ...(config.botInfo === undefined ? {} : { botInfo: config.botInfo }),
    ...(config.apiRoot === undefined ? {} : { client: { apiRoot: config.apiRoot } }),
  });
  bot.use(sequentialize(updateSequenceKey));
  bot.use(localize(services.locales));
  bot.use(commands(services));
  bot.use(account(services));
  bot.use(payments(services));
  bot.use(channelSettings(services));
  bot.use(channelPosts(services));
  bot.use(inlineMode(services));
  bot.use(privateChat(services));
  bot.catch((error) => {
    services.logger.error(
      { updateId: error.ctx.update.update_id, error: describeError(error.error) },
      'update failed',
    );
  });
  return bot;
}
