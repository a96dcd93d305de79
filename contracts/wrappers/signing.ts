// The signed-amount format is protocol: clients sign charges with shared's code, contracts check it.
export { type SignedAmount, signAmount, signedAmountCell, verifyAmountSignature } from '@cocoon/shared';
