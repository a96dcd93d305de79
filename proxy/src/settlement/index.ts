export { ChainAllowance } from './allowance.js';
export {
  type ContractSettlementOptions,
  clientContractFor,
  contractSettlement,
  type ProxyLink,
  workerContractFor,
} from './contracts.js';
export { SettlementOutbox, type SettlementOutboxDeps, type SettlementSummary } from './outbox.js';
export type { ChainStateRecord, ClientAccount, SettlementChain, SignedTotal } from './port.js';
export { SettlementSettings } from './settings.js';
export {
  type LocalStateRecord,
  StateAnchor,
  type StateAnchorDeps,
  StateRollbackError,
} from './state-anchor.js';
export { type StoredVoucher, VoucherBook, type VoucherRefusal, VoucherRefused } from './vouchers.js';
