export {
  NetworkChain,
  type NetworkChainOptions,
  SendTimeoutError,
  type TonClientLike,
  walletAddress,
} from './network.js';
export { type ChainOptions, chainOptionsFromConfig, chainOptionsSchema, openChain } from './open.js';
export * from './types.js';
export { loadOrCreateMnemonic } from './wallet-file.js';
export {
  type ChargeEvent,
  type ChargeUndoneEvent,
  ClientContractWatcher,
  type ClientContractWatcherOptions,
  chargeOf,
  chargeUndoneOf,
  FileCursorStore,
  type TopUpEvent,
  topUpOf,
} from './watcher.js';
