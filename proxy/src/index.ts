/** @cocoon/proxy: routes sealed jobs to attested workers, meters them and settles on-chain. Node-only. */
export {
  type ClientAllowance,
  type CreditSource,
  fixedAllowance,
  MemoryCredit,
  StoreCredit,
} from './credit.js';
export { type ProxyDb, proxyMigrations } from './db.js';
export { PROXY_ERROR_STATUS, ProxyError, type ProxyErrorCode } from './errors.js';
export { checkReceipt, type JobTerms, Ledger, ReceiptRefused, type Totals } from './ledger.js';
export { type ProxyOperator, startProxyOperator } from './operator.js';
export { PolicyKeeper, type PolicySource, StaticPolicySource } from './policy.js';
export { CocoonProxy, ProxyLimits, type ProxyOptions, WORKER_PATH } from './proxy.js';
export { AdmissionError, type AdmittedWorker, WorkerRegistry } from './registry.js';
export * from './settlement/index.js';
