import { SignedOp } from '@cocoon/shared';

/** Opcodes of every message (mirrors contracts/common/messages.tolk). */
export const Op = {
  transferOwnership: 0x52f1a001,
  acceptOwnership: 0x52f1a002,
  setWorkerImage: 0x52f1a003,
  setProxyImage: 0x52f1a004,
  setModel: 0x52f1a005,
  setProxy: 0x52f1a006,
  setParams: 0x52f1a007,
  upgradeCode: 0x52f1a008,
  excesses: 0xd53276db,
  textComment: 0x00000000,
  topUp: 0xc1e00001,
  addStake: 0xc1e00002,
  withdraw: 0xc1e00003,
  charge: SignedOp.charge,
  requestRefund: 0xc1e00005,
  forceRefund: 0xc1e00006,
  cooperativeClose: SignedOp.cooperativeClose,
  clientPayment: 0xc1e00010,
  refund: 0xc1e00011,
  payout: SignedOp.payout,
  payoutRequest: 0x3a7c0010,
  workerPaid: 0x3a7c0011,
  addProxyStake: 0x9b0a0001,
  withdrawCommission: 0x9b0a0002,
  requestProxyClose: 0x9b0a0003,
  closeProxy: 0x9b0a0004,
  recordState: 0x9b0a0005,
} as const;

/** Exit codes (mirrors contracts/common/errors.tolk). */
export const ExitCode = {
  unknownOp: 0xffff,
  notOwner: 100,
  notPendingOwner: 101,
  notEnoughGas: 102,
  badSignature: 103,
  oldTotal: 104,
  insufficientBalance: 105,
  notClosing: 106,
  alreadyClosing: 107,
  closeDelay: 108,
  totalMismatch: 109,
  badSeqno: 110,
  untrustedSender: 111,
  closed: 112,
  badValue: 113,
} as const;

/** Kept on every contract above its accounted funds (mirrors MIN_STORAGE_RESERVE in fees.tolk). */
export const MIN_STORAGE_RESERVE = 10_000_000n;

/** Gas bounds per handler (mirrors fees.tolk); a message must carry their fee at the current gas price. */
export const GasBound = {
  topUp: 4000n,
  ownerOp: 12000n,
  charge: 12000n,
  clientPayment: 10000n,
  payout: 10000n,
  payoutRequest: 10000n,
  bounce: 6000n,
} as const;

/** Suggested message values at today's mainnet gas price (66.67 nanoTON per gas unit), with margin. */
export const Value = {
  ownerOp: 5_000_000n,
  charge: 10_000_000n,
  payout: 10_000_000n,
  deploy: 50_000_000n,
} as const;

export const ProxyStatus = { open: 0, closing: 1, closed: 2 } as const;
