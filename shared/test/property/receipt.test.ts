import { Cell } from '@ton/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fromBase64, toBase64, toHex } from '../../src/bytes.js';
import {
  type Receipt,
  ReceiptError,
  receiptFromCell,
  receiptId,
  receiptToCell,
  SignedReceipt,
  signReceipt,
  verifyReceipt,
} from '../../src/receipt.js';
import { generateSigningKeyPair } from '../../src/signing.js';
import { byteMutation, hexOf, mutateBytes, rejection, runs, timeoutFor } from './support.js';

/** Largest amount the wire allows (30 decimal digits), far inside the cell's Coins field. */
const MAX_NANOTONS = 10n ** 30n - 1n;

const receiptArb = (worker: string): fc.Arbitrary<Receipt> =>
  fc.record({
    jobId: hexOf(16),
    client: hexOf(32),
    model: hexOf(32),
    promptTokens: fc.integer({ min: 0, max: 0xffffffff }),
    completionTokens: fc.integer({ min: 0, max: 0xffffffff }),
    pricePerToken: fc.bigInt({ min: 0n, max: MAX_NANOTONS }),
    amount: fc.bigInt({ min: 0n, max: MAX_NANOTONS }),
    requestHash: hexOf(32),
    responseHash: hexOf(32),
    worker: fc.constant(worker),
    time: fc.integer({ min: 0, max: 0xffffffff }),
  });

const workerKeys = generateSigningKeyPair();
const WORKER = toHex(workerKeys.publicKey);
const signedArb = receiptArb(WORKER).map((receipt) => ({
  receipt,
  signed: signReceipt(receipt, workerKeys.secretKey),
}));

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
});
