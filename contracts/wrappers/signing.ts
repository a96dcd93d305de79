import { type Address, beginCell, type Cell } from '@ton/core';
import { sign, signVerify } from '@ton/crypto';
import type { Op } from './constants.js';

/** The payload a client (Charge) or a proxy (Payout, CooperativeClose) signs: its cell hash. */
export interface SignedAmount {
  op: typeof Op.charge | typeof Op.payout | typeof Op.cooperativeClose;
  queryId: bigint;
  total: bigint;
  /** The contract the message is for: a signature for one contract fails on every other. */
  target: Address;
}

export function signedAmountCell(payload: SignedAmount): Cell {
  return beginCell()
    .storeUint(payload.op, 32)
    .storeUint(payload.queryId, 64)
    .storeCoins(payload.total)
    .storeAddress(payload.target)
    .endCell();
}

/** Ed25519 signature (64 bytes) of the payload cell's hash; `secretKey` is the 64-byte tweetnacl key. */
export function signAmount(payload: SignedAmount, secretKey: Buffer): Buffer {
  return sign(signedAmountCell(payload).hash(), secretKey);
}

export function verifyAmountSignature(payload: SignedAmount, signature: Buffer, publicKey: Buffer): boolean {
  return signVerify(signedAmountCell(payload).hash(), signature, publicKey);
}
