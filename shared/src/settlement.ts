import { type Address, beginCell, type Cell } from '@ton/core';
import { signBytes, verifyBytes } from './signing.js';

/**
 * Cumulative totals that move money on-chain: a client signs what it has been charged in total (Charge),
 * a proxy what a worker has earned in total (Payout) or a final total (CooperativeClose). Totals only grow,
 * so an old signature replays to nothing. Op codes mirror contracts/contracts/common/messages.tolk.
 */
export const SignedOp = {
  charge: 0xc1e00004,
  cooperativeClose: 0xc1e00007,
  payout: 0x3a7c0001,
} as const;

export interface SignedAmount {
  op: (typeof SignedOp)[keyof typeof SignedOp];
  queryId: bigint;
  total: bigint;
  /** The contract the message is for: a signature for one contract fails on every other. */
  target: Address;
}

/** The cell whose hash is signed: `op:uint32 query_id:uint64 total:Coins target:MsgAddress`. */
export function signedAmountCell(payload: SignedAmount): Cell {
  return beginCell()
    .storeUint(payload.op, 32)
    .storeUint(payload.queryId, 64)
    .storeCoins(payload.total)
    .storeAddress(payload.target)
    .endCell();
}

/** A 32-byte Ed25519 seed; a 64-byte TON (tweetnacl) secret key holds the seed in its first half. */
const seedOf = (secretKey: Uint8Array): Uint8Array =>
  secretKey.length === 64 ? secretKey.subarray(0, 32) : secretKey;

export function signAmount(payload: SignedAmount, secretKey: Uint8Array): Uint8Array {
  return signBytes(signedAmountCell(payload).hash(), seedOf(secretKey));
}

export function verifyAmountSignature(
  payload: SignedAmount,
  signature: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  return verifyBytes(signature, signedAmountCell(payload).hash(), publicKey);
}
