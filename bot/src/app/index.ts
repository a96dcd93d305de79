export {
  type AppServerOptions,
  type CreateStarsInvoice,
  createAppServer,
  type GetChatMember,
  type NetworkSource,
  ReaderError,
  type ReaderErrorCode,
  type ReaderJob,
  type ReaderSummarizer,
} from './server.js';
export {
  type AppAccount,
  type AppChannelRecord,
  type AppStore,
  type ChainCredit,
  InMemoryAppStore,
  type InMemoryAppStoreOptions,
  type StoredTopUp,
} from './store.js';
