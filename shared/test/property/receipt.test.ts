import { Cell, crc32c } from '@ton/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fromBase64, toBase64, toHex } from '../../src/bytes.js';
import {
  openReceipt,
  type Receipt,
  ReceiptError,
  receiptFromCell,
  receiptId,
  receiptToCell,
  SignedReceipt,
  signReceipt,
  verifyReceipt,
} from '../../src/receipt.js';
import { bocFramingError, readCanonicalReceiptBoc } from '../../src/receipt-boc.js';
import { generateSigningKeyPair } from '../../src/signing.js';
import { byteMutation, hexOf, mutateBytes, rejection, runs, timeoutFor } from './support.js';

/** Largest amount the wire allows (30 decimal digits), far inside the cell's Coins field. */
const MAX_NANOTONS = 10n ** 30n - 1n;
/** Largest value a cell's Coins field holds (15 bytes). */
const MAX_COINS = 2n ** 120n - 1n;

/** Every value up to `max`, with both ends drawn often. */
const coins = (max: bigint) => fc.oneof(fc.constantFrom(0n, max), fc.bigInt({ min: 0n, max }));
const uint32 = fc.oneof(fc.constantFrom(0, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));

const receiptArb = (worker: string, maxCoins = MAX_NANOTONS): fc.Arbitrary<Receipt> =>
  fc.record({
    jobId: hexOf(16),
    client: hexOf(32),
    model: hexOf(32),
    promptTokens: uint32,
    completionTokens: uint32,
    pricePerToken: coins(maxCoins),
    amount: coins(maxCoins),
    requestHash: hexOf(32),
    responseHash: hexOf(32),
    worker: fc.constant(worker),
    time: uint32,
  });

const workerKeys = generateSigningKeyPair();
const WORKER = toHex(workerKeys.publicKey);
const signedArb = receiptArb(WORKER).map((receipt) => ({
  receipt,
  signed: signReceipt(receipt, workerKeys.secretKey),
}));

/**
 * @ton/core's reading of a BOC, the reference for the direct reader: the receipt and id, or undefined.
 * Framing that the TON node refuses (and @ton/core reads past) is refused first; receipt.test.ts pins it.
 */
function tonCoreReading(boc: Uint8Array): { receipt: Receipt; id: string } | undefined {
  if (bocFramingError(boc) !== undefined) return undefined;
  try {
    const cells = Cell.fromBoc(Buffer.from(boc));
    if (cells.length !== 1) return undefined;
    const cell = cells[0] as Cell;
    return { receipt: receiptFromCell(cell), id: toHex(cell.hash()) };
  } catch {
    return undefined;
  }
}

const directReading = (boc: Uint8Array) => {
  const read = readCanonicalReceiptBoc(boc);
  return read && { receipt: read.receipt, id: toHex(read.hash) };
};

/** Writes a fresh CRC32C over a mutated BOC that claims one, so the mutation reaches the cells. */
function withFixedCrc(boc: Uint8Array): Uint8Array {
  // Too short for the flags byte (index 4) and a CRC after it: left as it is.
  if (boc.length < 9 || ((boc[4] as number) & 0x40) === 0) return boc;
  const out = Uint8Array.from(boc);
  out.set(crc32c(Buffer.from(out.subarray(0, out.length - 4))), out.length - 4);
  return out;
}

describe('receipts', () => {
  it(
    'round-trip every field through the cell, the signature and the JSON wire',
    () => {
      const keyed = fc.uint8Array({ minLength: 32, maxLength: 32 }).chain((seed) => {
        const keys = generateSigningKeyPair(seed);
        return receiptArb(toHex(keys.publicKey)).map((receipt) => ({ keys, receipt }));
      });
      fc.assert(
        fc.property(keyed, ({ keys, receipt }) => {
          expect(receiptFromCell(receiptToCell(receipt))).toEqual(receipt);
          const signed = signReceipt(receipt, keys.secretKey);
          const wire = SignedReceipt.parse(JSON.parse(JSON.stringify(signed)));
          expect(verifyReceipt(wire, receipt.worker)).toEqual(receipt);
          const cell = Cell.fromBoc(Buffer.from(fromBase64(signed.boc)))[0] as Cell;
          expect(receiptId(receipt)).toBe(toHex(cell.hash()));
        }),
        runs(150),
      );
    },
    timeoutFor(3),
  );

  it(
    'refuse any mutated byte of the BOC',
    async () => {
      await fc.assert(
        fc.asyncProperty(signedArb, byteMutation, async ({ signed }, mutation) => {
          const boc = toBase64(mutateBytes(fromBase64(signed.boc), mutation));
          const error = await rejection(() => verifyReceipt({ ...signed, boc }, WORKER), 'a mutated BOC');
          expect(error).toBeInstanceOf(ReceiptError);
        }),
        runs(150),
      );
    },
    timeoutFor(3),
  );

  it(
    'refuse any mutated byte of the signature',
    async () => {
      await fc.assert(
        fc.asyncProperty(signedArb, byteMutation, async ({ signed }, mutation) => {
          const signature = toBase64(mutateBytes(fromBase64(signed.signature), mutation));
          const error = await rejection(
            () => verifyReceipt({ ...signed, signature }, WORKER),
            'a mutated signature',
          );
          expect(error).toMatchObject({ name: 'ReceiptError', code: 'signature_invalid' });
        }),
        runs(150),
      );
    },
    timeoutFor(3),
  );

  it(
    'refuse a receipt signed by another key, or naming another worker than the attested one',
    async () => {
      const other = generateSigningKeyPair();
      await fc.assert(
        fc.asyncProperty(receiptArb(WORKER), hexOf(32), async (receipt, attested) => {
          fc.pre(attested !== WORKER);
          const forged = signReceipt(receipt, other.secretKey);
          expect(await rejection(() => verifyReceipt(forged), 'a forged receipt')).toMatchObject({
            code: 'signature_invalid',
          });
          const genuine = signReceipt(receipt, workerKeys.secretKey);
          expect(await rejection(() => verifyReceipt(genuine, attested), 'another worker')).toMatchObject({
            code: 'wrong_worker',
          });
        }),
        runs(200),
      );
    },
    timeoutFor(3),
  );

  it(
    'refuse random input with a ZodError (wrong shape) or a ReceiptError, never anything else',
    async () => {
      const base64 = fc.uint8Array({ maxLength: 300 }).map(toBase64);
      const input = fc.oneof(
        fc.jsonValue(),
        fc.record({ boc: base64, signature: base64 }),
        fc.record({ boc: fc.string(), signature: fc.string() }),
      );
      await fc.assert(
        fc.asyncProperty(input, async (value) => {
          const error = await rejection(() => verifyReceipt(value as SignedReceipt), 'random input');
          expect(error instanceof ReceiptError || error instanceof z.ZodError).toBe(true);
        }),
        runs(150),
      );
    },
    timeoutFor(3),
  );

  it(
    'are read straight from the BOC a worker sends, exactly as @ton/core reads them; other layouts through it',
    async () => {
      await fc.assert(
        fc.asyncProperty(receiptArb(WORKER, MAX_COINS), async (receipt) => {
          const cell = receiptToCell(receipt);
          const id = receiptId(receipt);
          for (const crc32 of [true, false]) {
            const boc = cell.toBoc({ crc32 });
            expect(directReading(boc)).toEqual({ receipt, id });
            expect(tonCoreReading(boc)).toEqual({ receipt, id });
          }
          const signed = signReceipt(receipt, workerKeys.secretKey);
          expect(signed.boc).toBe(toBase64(cell.toBoc()));
          expect(await openReceipt(signed, WORKER)).toEqual({ receipt, id });
          // An index is valid but not what workers write: @ton/core reads it, with the same result.
          for (const crc32 of [true, false]) {
            const indexed = cell.toBoc({ idx: true, crc32 });
            expect(readCanonicalReceiptBoc(indexed)).toBeUndefined();
            expect(await openReceipt({ ...signed, boc: toBase64(indexed) }, WORKER)).toEqual({ receipt, id });
          }
        }),
        runs(150),
      );
    },
    timeoutFor(3),
  );

  it(
    'read a mutated BOC as @ton/core does: the same receipt and id, or both refuse',
    async () => {
      let changedAndReadDirectly = 0;
      const fixCrc = fc.boolean();
      await fc.assert(
        fc.asyncProperty(signedArb, byteMutation, fixCrc, async ({ receipt, signed }, mutation, fix) => {
          const mutated = mutateBytes(fromBase64(signed.boc), mutation);
          const boc = fix ? withFixedCrc(mutated) : mutated;
          const signedId = receiptId(receipt);
          const reference = tonCoreReading(boc);
          const direct = directReading(boc);
          if (direct !== undefined) {
            expect(direct).toEqual(reference);
            if (direct.id !== signedId) changedAndReadDirectly++;
          }
          // The public path, with the original signature: what @ton/core reads, checked as before.
          const opened = await openReceipt({ ...signed, boc: toBase64(boc) }).catch(
            (error: unknown) => error,
          );
          if (reference === undefined)
            expect(opened).toMatchObject({ name: 'ReceiptError', code: 'malformed' });
          else if (reference.id === signedId) expect(opened).toEqual(reference);
          else expect(opened).toMatchObject({ name: 'ReceiptError', code: 'signature_invalid' });
        }),
        runs(300),
      );
      // The direct reader must have read changed cells too, not only declined everything it was given.
      expect(changedAndReadDirectly).toBeGreaterThan(0);
    },
    timeoutFor(3),
  );

  it(
    'read every single-bit change of a BOC as @ton/core does, with its CRC32C rewritten or not',
    () => {
      // Coin lengths from 0 to 15 bytes move every field after them.
      let changedAndReadDirectly = 0;
      const extremes: [bigint, bigint][] = [
        [0n, 0n],
        [20n, 21_040n],
        [MAX_COINS, 0n],
        [0n, MAX_COINS],
        [MAX_COINS, MAX_COINS],
      ];
      const sample = fc.sample(receiptArb(WORKER), { numRuns: extremes.length, seed: 1 });
      for (const [i, [pricePerToken, amount]] of extremes.entries()) {
        const receipt = { ...(sample[i] as Receipt), pricePerToken, amount };
        const original = receiptToCell(receipt).toBoc();
        for (let bit = 0; bit < original.length * 8; bit++) {
          const flipped = Uint8Array.from(original);
          flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (0x80 >> (bit & 7));
          for (const boc of [flipped, withFixedCrc(flipped)]) {
            const direct = directReading(boc);
            if (direct === undefined) continue;
            expect(direct).toEqual(tonCoreReading(boc));
            changedAndReadDirectly++;
          }
        }
      }
      expect(changedAndReadDirectly).toBeGreaterThan(0);
    },
    timeoutFor(3),
  );
});
