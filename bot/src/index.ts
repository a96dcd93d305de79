export { type BotConfig, type BotDependencies, createBot, DEFAULT_BOT_SETTINGS } from './bot.js';
export { BotSettings } from './handlers/services.js';
export { type Article, ExtractError, extractArticle } from './links/extract.js';
export {
  type FetchedPage,
  FetchPageError,
  type FetchPageErrorCode,
  type FetchPageOptions,
  fetchPage,
} from './links/fetch-page.js';
export { createArticleReader, type ReadArticle } from './links/read-article.js';
export { InMemoryBotStore } from './store/memory.js';
export type { BotStore, ChannelSettings, StoredSummary, SummarySource } from './store/types.js';
export { FakeSummarizer } from './summarize/fake-summarizer.js';
export { NetworkSummarizer, type NetworkSummarizerOptions } from './summarize/network-summarizer.js';
export { buildSummaryPrompt } from './summarize/prompt.js';
export { SummaryService } from './summarize/service.js';
export type { Summarizer, SummaryRequest, SummaryResult } from './summarize/types.js';
