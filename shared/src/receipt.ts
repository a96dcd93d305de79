import { beginCell, Cell, type Slice } from '@ton/core';
import { z } from 'zod';
import { fromBase64, fromHex, toBase64, toHex } from './bytes.js';
import { Base64, Hex32, JobId, Nanotons, TokenCount, UnixSeconds } from './protocol/primitives.js';
import { bocFramingError, type DecodedReceipt, RECEIPT_TAG, readCanonicalReceiptBoc } from './receipt-boc.js';
import { signBytes, verifyBytes, verifyBytesAsync } from './signing.js';

export { RECEIPT_TAG };

/**
 * A worker's usage receipt. It is a TON cell, so a contract can check the very bytes the worker signed
 * (check_signature over the cell hash), and the client can check it against what it sent and received.
 */
export const Receipt = z.object({
  jobId: JobId,
  /** The client account's Ed25519 public key. */
  client: Hex32,
  /** SHA-256 of the model file that served the job. */
  model: Hex32,
  promptTokens: TokenCount,
  completionTokens: TokenCount,
  /** Nanotons per token before the prompt/completion multipliers. */
  pricePerToken: Nanotons,
  /** What the job costs, in nanotons. */
  amount: Nanotons,
  /** SHA-256 of the sealed request body and of the sealed response transcript. */
  requestHash: Hex32,
  responseHash: Hex32,
  /** The worker's receipt-signing Ed25519 public key (bound into its attestation). */
  worker: Hex32,
  time: UnixSeconds.max(0xffffffff),
});
export type Receipt = z.output<typeof Receipt>;

/** What travels: the receipt cell as a BOC and the worker's signature over the cell's hash. */
export const SignedReceipt = z.object({ boc: Base64, signature: Base64 });
export type SignedReceipt = z.output<typeof SignedReceipt>;

export type ReceiptErrorCode = 'malformed' | 'signature_invalid' | 'wrong_worker';

export class ReceiptError extends Error {
  override readonly name = 'ReceiptError';
  constructor(
    readonly code: ReceiptErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const uint = (hex: string): bigint => BigInt(`0x${hex}`);
/** An unsigned integer of `bytes` bytes as hex: read as bytes, far faster than bit by bit as a bigint. */
const hexBytesOf = (slice: Slice, bytes: number): string => slice.loadBuffer(bytes).toString('hex');

/** Encodes a receipt already in domain form (bigints); field widths are enforced by the cell builder. */
export function receiptToCell(receipt: Receipt): Cell {
  const hashes = beginCell()
    .storeUint(uint(receipt.requestHash), 256)
    .storeUint(uint(receipt.responseHash), 256)
    .storeUint(uint(receipt.worker), 256)
    .endCell();
  return beginCell()
    .storeUint(RECEIPT_TAG, 32)
    .storeUint(uint(receipt.jobId), 128)
    .storeUint(uint(receipt.client), 256)
    .storeUint(uint(receipt.model), 256)
    .storeUint(receipt.promptTokens, 32)
    .storeUint(receipt.completionTokens, 32)
    .storeCoins(receipt.pricePerToken)
    .storeCoins(receipt.amount)
    .storeUint(receipt.time, 32)
    .storeRef(hashes)
    .endCell();
}

export function receiptFromCell(cell: Cell): Receipt {
  try {
    const s = cell.beginParse();
    const tag = s.loadUint(32);
    if (tag !== RECEIPT_TAG) throw new Error(`unknown receipt tag 0x${tag.toString(16)}`);
    const jobId = hexBytesOf(s, 16);
    const client = hexBytesOf(s, 32);
    const model = hexBytesOf(s, 32);
    const promptTokens = s.loadUint(32);
    const completionTokens = s.loadUint(32);
    const pricePerToken = s.loadCoins();
    const amount = s.loadCoins();
    const time = s.loadUint(32);
    const h = s.loadRef().beginParse();
    const requestHash = hexBytesOf(h, 32);
    const responseHash = hexBytesOf(h, 32);
    const worker = hexBytesOf(h, 32);
    h.endParse();
    s.endParse();
    return {
      jobId,
      client,
      model,
      promptTokens,
      completionTokens,
      pricePerToken,
      amount,
      requestHash,
      responseHash,
      worker,
      time,
    };
  } catch (error) {
    throw new ReceiptError('malformed', `receipt cell is malformed: ${(error as Error).message}`);
  }
}

export function signReceipt(receipt: Receipt, workerSecretKey: Uint8Array): SignedReceipt {
  const cell = receiptToCell(receipt);
  return { boc: toBase64(cell.toBoc()), signature: toBase64(signBytes(cell.hash(), workerSecretKey)) };
}

/**
 * Checks the signature with the worker key the cell names and, when given, that this key is the one the
 * client verified in the worker's attestation. Returns the decoded receipt.
 */
export function verifyReceipt(signed: SignedReceipt, expectedWorker?: string): Receipt {
  const { receipt, hash, signature } = readSignedReceipt(signed, expectedWorker);
  if (!verifyBytes(signature, hash, fromHex(receipt.worker))) throw invalidSignature();
  return receipt;
}

/**
 * `verifyReceipt` for servers, with the signature checked off the main thread where the platform can, also
 * returning the receipt's id (`receiptId`) from the cell already parsed.
 */
export async function openReceipt(
  signed: SignedReceipt,
  expectedWorker?: string,
): Promise<{ receipt: Receipt; id: string }> {
  const { receipt, hash, signature } = readSignedReceipt(signed, expectedWorker);
  if (!(await verifyBytesAsync(signature, hash, fromHex(receipt.worker)))) throw invalidSignature();
  return { receipt, id: toHex(hash) };
}

const invalidSignature = () => new ReceiptError('signature_invalid', 'receipt signature does not verify');

/** Decodes a signed receipt and its cell hash (what the signature covers), before the signature is checked. */
function readSignedReceipt(
  signed: SignedReceipt,
  expectedWorker: string | undefined,
): { receipt: Receipt; hash: Uint8Array; signature: Uint8Array } {
  const { boc, signature } = SignedReceipt.parse(signed);
  const { receipt, hash } = decodeReceiptBoc(fromBase64(boc));
  if (expectedWorker !== undefined && receipt.worker !== expectedWorker) {
    throw new ReceiptError('wrong_worker', 'receipt is signed for another worker than the one attested');
  }
  return { receipt, hash, signature: fromBase64(signature) };
}

/**
 * The receipt a BOC holds and its cell hash. The layout `signReceipt` writes is read directly
 * (receipt-boc.ts); any other BOC framed as the TON node frames it goes through @ton/core, which decides
 * what else is valid and how it fails.
 */
function decodeReceiptBoc(boc: Uint8Array): DecodedReceipt {
  const canonical = readCanonicalReceiptBoc(boc);
  if (canonical !== undefined) return canonical;
  const framing = bocFramingError(boc);
  if (framing !== undefined) throw new ReceiptError('malformed', `receipt BOC is malformed: ${framing}`);
  let cell: Cell;
  try {
    const cells = Cell.fromBoc(Buffer.from(boc));
    if (cells.length !== 1) throw new Error(`expected one root cell, got ${cells.length}`);
    cell = cells[0] as Cell;
  } catch (error) {
    throw new ReceiptError('malformed', `receipt BOC is malformed: ${(error as Error).message}`);
  }
  return { receipt: receiptFromCell(cell), hash: cell.hash() };
}

/** Hex of the receipt cell hash: the receipt's id in storage and on-chain. */
export const receiptId = (receipt: Receipt): string => toHex(receiptToCell(receipt).hash());
