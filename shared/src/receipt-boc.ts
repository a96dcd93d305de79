/*
 * A direct reader for the one BOC layout that `receiptToCell(...).toBoc()` writes. @ton/core's reader parses
 * bit by bit and hashes every cell with pure-JS SHA-256, a few percent of a proxy's CPU per job; this one reads
 * the fields straight from the bytes and hashes with the platform's SHA-256 (OpenSSL under Node). It declines
 * (returns undefined) anything else, which then takes @ton/core's path, so every input decodes as before.
 *
 * The layout, with @ton/core 0.63's serializer choices (no index, 1-byte cell refs and offsets):
 *   b5ee9c72 | flags: has_idx 0, has_crc32c 0/1, has_cache_bits 0, 00, size_bytes 001 | off_bytes 01
 *   | cells 02 | roots 01 | absent 00 | total cell size | root index 00
 *   | root: d1 = 01 (one ref), d2 = 2 * data bytes, data, ref 01 | child: d1 = 00, d2 = c0, 96 data bytes
 *   | CRC32C (little-endian) of everything before it, when has_crc32c.
 * A receipt's root always has a whole number of bytes (the two 4-bit coin lengths add up to one byte), so
 * d2 is even and no completion tag is involved; an odd d2 cannot hold a receipt and is declined.
 */
import { crc32c } from '@ton/core';
import { sha256, toHex } from './bytes.js';
import type { Receipt } from './receipt.js';

/** Cell tag "rcp1": a changed layout gets a new tag, never a silent reinterpretation. */
export const RECEIPT_TAG = 0x72637031;

const BOC_MAGIC = 0xb5ee9c72;
/** size_bytes 1 in the low 3 bits; has_crc32c is 0x40; has_idx, has_cache_bits and the flags must be 0. */
const FLAGS_NO_CRC = 0x01;
const HAS_CRC32C = 0x40;
const CRC_LENGTH = 4;
/** Magic, flags, off_bytes, cells, roots, absent, total cell size, root index. */
const HEADER_LENGTH = 11;
const ROOT_AT = HEADER_LENGTH;
/** Tag 32, job id 128, client 256, model 256, two token counts 32 each: where the first coin length sits. */
const COINS_AT = 92;
/** The root's bytes besides the coins' value bytes: fixed fields, the two 4-bit lengths, time 32. */
const ROOT_FIXED_BYTES = COINS_AT + 1 + 4;
const HASH_BYTES = 32;
/** Request hash, response hash and worker key. */
const CHILD_BYTES = 3 * HASH_BYTES;
const CHILD_D2 = 2 * CHILD_BYTES;
/** d1 d2 data of the child cell, which has no refs. */
const CHILD_CELL_LENGTH = 2 + CHILD_BYTES;

export interface DecodedReceipt {
  receipt: Receipt;
  /** The root cell's representation hash: what the worker signs, and the receipt's id. */
  hash: Uint8Array;
}

const HEX_DIGITS = '0123456789abcdef';

const uint32At = (bytes: Uint8Array, at: number): number =>
  (((bytes[at] as number) << 24) |
    ((bytes[at + 1] as number) << 16) |
    ((bytes[at + 2] as number) << 8) |
    (bytes[at + 3] as number)) >>>
  0;

const hexAt = (bytes: Uint8Array, at: number, length: number): string =>
  toHex(bytes.subarray(at, at + length));

/** The 4-bit nibble at nibble index `index` (high nibble first), as Coins are laid out after a 4-bit length. */
const nibbleAt = (bytes: Uint8Array, index: number): number =>
  ((bytes[index >> 1] as number) >> (index & 1 ? 0 : 4)) & 0x0f;

/** A Coins value of `length` bytes starting at nibble index `index`; 0 bytes is 0, as @ton/core reads it. */
function coinsAt(bytes: Uint8Array, index: number, length: number): bigint {
  let hex = '0';
  for (let i = 0; i < 2 * length; i++) hex += HEX_DIGITS[nibbleAt(bytes, index + i)];
  return BigInt(`0x${hex}`);
}

function crcMatches(boc: Uint8Array): boolean {
  const end = boc.length - CRC_LENGTH;
  const crc = crc32c(boc.subarray(0, end) as Buffer);
  for (let i = 0; i < CRC_LENGTH; i++) if (crc[i] !== boc[end + i]) return false;
  return true;
}

/**
 * Why a BOC's framing is not one the TON node's reader accepts, or undefined when it is. @ton/core reads
 * past reserved flags, absent cells and bytes after the cells (a cleared CRC flag leaves the CRC behind as
 * trailing bytes), so one signed cell could arrive in many encodings; the node's reader, and this check,
 * refuse them. Only the generic format (b5ee9c72), the one every current serializer writes.
 */
export function bocFramingError(boc: Uint8Array): string | undefined {
  if (boc.length < 6 || uint32At(boc, 0) !== BOC_MAGIC) return 'not a generic BOC (magic b5ee9c72)';
  const flags = boc[4] as number;
  const hasIdx = (flags & 0x80) !== 0;
  const hasCacheBits = (flags & 0x20) !== 0;
  const size = flags & 0x07;
  const offBytes = boc[5] as number;
  if ((flags & 0x18) !== 0) return 'reserved BOC flags are set';
  if (hasCacheBits && !hasIdx) return 'BOC cache bits without an index';
  if (size < 1 || size > 4 || offBytes < 1 || offBytes > 8)
    return 'BOC reference or offset size out of range';
  const uintAt = (at: number, bytes: number) => {
    let value = 0;
    for (let i = 0; i < bytes; i++) value = value * 256 + (boc[at + i] ?? 0);
    return value;
  };
  const cells = uintAt(6, size);
  const roots = uintAt(6 + size, size);
  if (uintAt(6 + 2 * size, size) !== 0) return 'BOC has absent cells';
  const cellsLength = uintAt(6 + 3 * size, offBytes);
  const cellsAt = 6 + 3 * size + offBytes + roots * size + (hasIdx ? cells * offBytes : 0);
  const expected = cellsAt + cellsLength + (flags & HAS_CRC32C ? CRC_LENGTH : 0);
  if (boc.length !== expected) return `BOC is ${boc.length} bytes, its header describes ${expected}`;
  // The cells must fill their section exactly: @ton/core stops after the last one it was told of.
  const cellsEnd = cellsAt + cellsLength;
  let at = cellsAt;
  let read = 0;
  for (; read < cells && at < cellsEnd; read++) {
    const d1 = boc[at] as number;
    const d2 = boc[at + 1] as number;
    const hashes = d1 & 0x10 ? (1 + popcount3(d1 >> 5)) * (HASH_BYTES + 2) : 0;
    at += 2 + hashes + Math.ceil(d2 / 2) + (d1 & 0x07) * size;
  }
  if (read !== cells || at !== cellsEnd) return `BOC's ${cells} cells do not fill their ${cellsLength} bytes`;
  return undefined;
}

/** Set bits among the low three: a level mask's higher hashes. */
const popcount3 = (mask: number): number => (mask & 1) + ((mask >> 1) & 1) + ((mask >> 2) & 1);

/** The receipt and its hash when `boc` has exactly the layout above, else undefined (use @ton/core). */
export function readCanonicalReceiptBoc(boc: Uint8Array): DecodedReceipt | undefined {
  if (boc.length < HEADER_LENGTH + 2 || uint32At(boc, 0) !== BOC_MAGIC) return undefined;
  const flags = boc[4] as number;
  if ((flags & ~HAS_CRC32C) !== FLAGS_NO_CRC) return undefined;
  const crcLength = flags & HAS_CRC32C ? CRC_LENGTH : 0;
  // off_bytes 1, two cells, one root, none absent; the total size and root index are checked below.
  if (boc[5] !== 1 || boc[6] !== 2 || boc[7] !== 1 || boc[8] !== 0 || boc[10] !== 0) return undefined;
  const d2 = boc[ROOT_AT + 1] as number;
  if (boc[ROOT_AT] !== 1 || d2 % 2 !== 0) return undefined;
  const rootBytes = d2 / 2;
  const data = ROOT_AT + 2;
  if (rootBytes < ROOT_FIXED_BYTES) return undefined;
  const coinsNibble = 2 * (data + COINS_AT);
  const priceLength = nibbleAt(boc, coinsNibble);
  const amountNibble = coinsNibble + 1 + 2 * priceLength;
  const amountLength = nibbleAt(boc, amountNibble);
  if (rootBytes !== ROOT_FIXED_BYTES + priceLength + amountLength) return undefined;
  const refAt = data + rootBytes;
  const child = refAt + 1;
  const cellsLength = child + CHILD_CELL_LENGTH - ROOT_AT;
  if (boc[refAt] !== 1 || boc[child] !== 0 || boc[child + 1] !== CHILD_D2) return undefined;
  if (boc[9] !== cellsLength || boc.length !== ROOT_AT + cellsLength + crcLength) return undefined;
  if (crcLength !== 0 && !crcMatches(boc)) return undefined;
  if (uint32At(boc, data) !== RECEIPT_TAG) return undefined;

  const childData = child + 2;
  const receipt: Receipt = {
    jobId: hexAt(boc, data + 4, 16),
    client: hexAt(boc, data + 20, HASH_BYTES),
    model: hexAt(boc, data + 52, HASH_BYTES),
    promptTokens: uint32At(boc, data + 84),
    completionTokens: uint32At(boc, data + 88),
    pricePerToken: coinsAt(boc, coinsNibble + 1, priceLength),
    amount: coinsAt(boc, amountNibble + 1, amountLength),
    requestHash: hexAt(boc, childData, HASH_BYTES),
    responseHash: hexAt(boc, childData + HASH_BYTES, HASH_BYTES),
    worker: hexAt(boc, childData + 2 * HASH_BYTES, HASH_BYTES),
    time: uint32At(boc, refAt - 4),
  };
  // Representation hashes: an ordinary cell's d1 d2 and data are its BOC bytes; a parent appends each
  // child's depth (2 bytes, big-endian: 0 for a cell without refs) and hash.
  const childHash = sha256(boc.subarray(child, child + CHILD_CELL_LENGTH));
  const rootRepr = new Uint8Array(2 + rootBytes + 2 + HASH_BYTES);
  rootRepr.set(boc.subarray(ROOT_AT, refAt), 0);
  rootRepr.set(childHash, 2 + rootBytes + 2);
  return { receipt, hash: sha256(rootRepr) };
}
