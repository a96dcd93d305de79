export { LedgerAppStore, type LedgerAppStoreOptions, UnknownChannelError } from './ledger-store.js';
export {
  type AppServerOptions,
  BotNotRunningError,
  type CreateStarsInvoice,
  createAppServer,
  type GetChatMember,
  type NetworkSource,
  ReaderError,
  type ReaderErrorCode,
  type ReaderJob,
  type ReaderSummarizer,
} from './server.js';
export type {
  AppAccount,
  AppChannelRecord,
  AppStore,
  ChainCredit,
  StoredTopUp,
  TopUpCredit,
} from './store.js';
