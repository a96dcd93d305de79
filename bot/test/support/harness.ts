import { createLogger } from '@cocoon/shared/log';
import type { Bot } from 'grammy';
import { type BotConfig, createBot } from '../../src/bot.js';
import type { BotContext } from '../../src/i18n.js';
import type { ReadArticle } from '../../src/links/read-article.js';
import { InMemoryBotStore } from '../../src/store/memory.js';
import { FakeSummarizer } from '../../src/summarize/fake-summarizer.js';
import type { Summarizer } from '../../src/summarize/types.js';
import { RecordingBotApi } from './bot-api.js';

export interface Harness {
  api: RecordingBotApi;
  bot: Bot<BotContext>;
  store: InMemoryBotStore;
  summarizer: FakeSummarizer;
  /** Every log line the bot wrote, as JSON text. */
  logs: string[];
  close(): Promise<void>;
}

/** The bot wired to the recording Bot API, an in-memory store and the fake summarizer. */
export async function startHarness(
  options: {
    settings?: BotConfig['settings'];
    cacheSummaries?: boolean;
    readArticle?: ReadArticle;
    summarizerDelayMs?: number;
    /** Wraps the fake summarizer (to add what the network would report, such as receipts). */
    decorate?: (fake: FakeSummarizer) => Summarizer;
  } = {},
): Promise<Harness> {
  const api = await RecordingBotApi.start();
  const store = new InMemoryBotStore();
  const summarizer = new FakeSummarizer(
    options.summarizerDelayMs === undefined ? {} : { delayMs: options.summarizerDelayMs },
  );
  const logs: string[] = [];
  const logger = createLogger('bot-test', 'debug', { write: (line: string) => void logs.push(line) });
  const bot = createBot(
    {
      token: api.token,
      botInfo: api.botInfo,
      apiRoot: api.apiRoot,
      ...(options.settings === undefined ? {} : { settings: options.settings }),
      ...(options.cacheSummaries === undefined ? {} : { cacheSummaries: options.cacheSummaries }),
    },
    {
      store,
      summarizer: options.decorate?.(summarizer) ?? summarizer,
      logger,
      ...(options.readArticle === undefined ? {} : { readArticle: options.readArticle }),
    },
  );
  return { api, bot, store, summarizer, logs, close: () => api.close() };
}
