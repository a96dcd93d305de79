export { NetworkChain, type NetworkChainOptions, SendTimeoutError, type TonClientLike } from './network.js';
export { type ChainOptions, chainOptionsFromConfig, chainOptionsSchema, openChain } from './open.js';
export { ChainStateError, SandboxChain, type SandboxChainOptions } from './sandbox.js';
export * from './types.js';
export {
  FileCursorStore,
  type TopUpEvent,
  TopUpWatcher,
  type TopUpWatcherOptions,
  topUpOf,
} from './watcher.js';
