export {
  type BotConfig,
  type BotDependencies,
  createBot,
  createBotServices,
  createBotWithServices,
  DEFAULT_BOT_SETTINGS,
  updateSequenceKey,
} from './bot.js';
export { createStarsTopUpLink } from './handlers/payments.js';
export { BotSettings } from './handlers/services.js';
export { type BotContext, LOCALES_DIR, Locale, localeOf, UserLocales } from './i18n.js';
export { type Article, ExtractError, extractArticle } from './links/extract.js';
export {
  type FetchedPage,
  FetchPageError,
  type FetchPageErrorCode,
  type FetchPageOptions,
  fetchPage,
} from './links/fetch-page.js';
export { createArticleReader, type ReadArticle } from './links/read-article.js';
export {
  type Authorization,
  Billing,
  creditTonTopUp,
  type Payer,
  PaymentRequiredError,
  TonTopUp,
} from './payments/billing.js';
export { estimateSummaryCost, formatTon, starsFor } from './payments/pricing.js';
export {
  type RunningTelegramApp,
  startTelegramApp,
  type TelegramAppOptions,
  type TelegramAppSummaries,
} from './runtime.js';
export {
  type BotWebhook,
  confirmCredit,
  type RunningBot,
  runBot,
  type StartBotOptions,
  startBot,
  webhookPath,
  webhookSecret,
} from './start.js';
export { InMemoryBotStore } from './store/memory.js';
export { type BotTables, botMigrations, SqlBotStore } from './store/sql.js';
export type {
  BotStore,
  ChannelSettings,
  JobPayer,
  JobRecord,
  LedgerEntry,
  LedgerKind,
  StoredSummary,
  SummarySource,
  UserLocale,
  UserSettings,
} from './store/types.js';
export { FakeSummarizer } from './summarize/fake-summarizer.js';
export { NetworkSummarizer, type NetworkSummarizerOptions } from './summarize/network-summarizer.js';
export { buildSummaryPrompt } from './summarize/prompt.js';
export { SummaryService, type SummaryServiceOptions } from './summarize/service.js';
export type { Summarizer, SummaryRequest, SummaryResult } from './summarize/types.js';
