export * from '../wrappers/index.js';
export * from './chain/index.js';
export {
  CONTRACT_NAMES,
  type CompiledContract,
  type ContractCodes,
  type ContractName,
  loadContractCodes,
} from './compile.js';
export { DeployError, ensureProxy, ensureRoot } from './deploy.js';
export { basechainFeePrices, forwardFee, gasFee, mainnetFeeConfig, topUpCredit } from './fees.js';
export { type RootPolicyOptions, rootPolicySource } from './policy.js';
