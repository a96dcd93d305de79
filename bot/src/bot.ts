import { type Clock, systemClock } from '@cocoon/shared';
import { createLogger, type Logger } from '@cocoon/shared/log';
import { Bot } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import { channelPosts } from './handlers/channel.js';
import { channelSettings } from './handlers/channel-settings.js';
import { commands } from './handlers/commands.js';
import { inlineMode } from './handlers/inline.js';
import { privateChat } from './handlers/private-chat.js';
import { type BotServices, BotSettings, describeError } from './handlers/services.js';
import { createArticleReader, type ReadArticle } from './links/read-article.js';
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
}

export const DEFAULT_BOT_SETTINGS: BotSettings = {
  minTextLength: 200,
  tapWaitMs: 8_000,
  inlineWaitMs: 8_000,
  privateLanguage: 'auto',
  privateLength: 'bullets',
};

/** The bot: small composers for commands, channels, inline mode and private chats, over shared services. */
export function createBot(config: BotConfig, dependencies: BotDependencies): Bot {
  const clock = dependencies.clock ?? systemClock;
  const services: BotServices = {
    store: dependencies.store,
    summaries: new SummaryService(dependencies.store, dependencies.summarizer, {
      clock,
      cache: config.cacheSummaries ?? true,
    }),
    readArticle: dependencies.readArticle ?? createArticleReader(),
    clock,
    logger: dependencies.logger ?? createLogger('bot'),
    settings: BotSettings.parse({ ...DEFAULT_BOT_SETTINGS, ...config.settings }),
  };
  const bot = new Bot(config.token, {
    ...(config.botInfo === undefined ? {} : { botInfo: config.botInfo }),
    ...(config.apiRoot === undefined ? {} : { client: { apiRoot: config.apiRoot } }),
  });
  bot.use(commands(services));
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
