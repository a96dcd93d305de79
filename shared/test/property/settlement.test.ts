import { Address } from '@ton/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/bytes.js';
import { MemoryVoucherStore, VoucherSigner, verifyVoucher } from '../../src/client/voucher.js';
import { billedAmount, jobCost } from '../../src/pricing.js';
import {
  type SignedAmount,
  SignedOp,
  signAmount,
  signedAmountCell,
  verifyAmountSignature,
} from '../../src/settlement.js';
import { generateSigningKeyPair } from '../../src/signing.js';
import { byteMutation, mutateBytes, runs, timeoutFor } from './support.js';

const OPS = Object.values(SignedOp);
const MAX_COINS = 2n ** 120n - 1n;
const MAX_QUERY_ID = 2n ** 64n - 1n;

const addressArb = fc
  .tuple(fc.constantFrom(0, -1), fc.uint8Array({ minLength: 32, maxLength: 32 }))
  .map(([workchain, hash]) => new Address(workchain, Buffer.from(hash)));

const amountArb: fc.Arbitrary<SignedAmount> = fc.record({
  op: fc.constantFrom(...OPS),
  queryId: fc.bigInt({ min: 0n, max: MAX_QUERY_ID }),
  total: fc.bigInt({ min: 0n, max: MAX_COINS }),
  target: addressArb,
});

/** A 32-byte seed, or the 64-byte TON (tweetnacl) secret key made of it: both sign the same. */
const keyArb = fc
  .tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean())
  .map(([seed, tonForm]) => {
    const { publicKey } = generateSigningKeyPair(seed);
    return { publicKey, secretKey: tonForm ? Uint8Array.of(...seed, ...publicKey) : seed };
  });

type Change =
  | { field: 'op'; op: SignedAmount['op'] }
  | { field: 'queryId' | 'total'; value: bigint }
  | { field: 'target'; target: Address };

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ field: fc.constant('op' as const), op: fc.constantFrom(...OPS) }),
  fc.record({
    field: fc.constantFrom('queryId' as const, 'total' as const),
    value: fc.bigInt({ min: 0n, max: MAX_QUERY_ID }),
  }),
  fc.record({ field: fc.constant('target' as const), target: addressArb }),
);

function change(payload: SignedAmount, edit: Change): SignedAmount | undefined {
  switch (edit.field) {
    case 'op':
      return edit.op === payload.op ? undefined : { ...payload, op: edit.op };
    case 'queryId':
    case 'total':
      return edit.value === payload[edit.field] ? undefined : { ...payload, [edit.field]: edit.value };
    case 'target':
      return edit.target.equals(payload.target) ? undefined : { ...payload, target: edit.target };
  }
}

describe('signed amounts (charges, payouts, cooperative closes)', () => {
  it(
    'the signed cell reads back as its payload, and the signature verifies with the signer key only',
    () => {
      fc.assert(
        fc.property(amountArb, keyArb, keyArb, (payload, key, other) => {
          const s = signedAmountCell(payload).beginParse();
          expect([s.loadUint(32), s.loadUintBig(64), s.loadCoins()]).toEqual([
            payload.op,
            payload.queryId,
            payload.total,
          ]);
          expect(s.loadAddress().equals(payload.target)).toBe(true);
          s.endParse();
          const signature = signAmount(payload, key.secretKey);
          expect(verifyAmountSignature(payload, signature, key.publicKey)).toBe(true);
          fc.pre(toHex(other.publicKey) !== toHex(key.publicKey));
          expect(verifyAmountSignature(payload, signature, other.publicKey)).toBe(false);
        }),
        runs(100),
      );
    },
    timeoutFor(3),
  );

  it(
    'a signature does not carry over to another op, query id, total or contract, nor survive a changed byte',
    () => {
      fc.assert(
        fc.property(amountArb, keyArb, changeArb, byteMutation, (payload, key, edit, mutation) => {
          const signature = signAmount(payload, key.secretKey);
          const changed = change(payload, edit);
          fc.pre(changed !== undefined);
          expect(verifyAmountSignature(changed as SignedAmount, signature, key.publicKey)).toBe(false);
          expect(verifyAmountSignature(payload, mutateBytes(signature, mutation), key.publicKey)).toBe(false);
        }),
        runs(100),
      );
    },
    timeoutFor(3),
  );

  it(
    "a client's vouchers sign the running total of its receipts, with growing query ids, for its contract only",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          addressArb,
          addressArb,
          fc.array(fc.bigInt({ min: 0n, max: 10n ** 15n }), { minLength: 1, maxLength: 8 }),
          async (seed, contract, owner, amounts) => {
            const key = generateSigningKeyPair(seed);
            const client = toHex(key.publicKey);
            const signer = new VoucherSigner(
              key.secretKey,
              owner.toRawString(),
              contract.toRawString(),
              new MemoryVoucherStore(),
            );
            let total = 0n;
            let queryId = 0n;
            for (const amount of amounts) {
              const voucher = await signer.add(amount);
              total += amount;
              expect(voucher.total).toBe(total);
              expect(voucher.queryId >= queryId).toBe(true);
              expect(verifyVoucher(voucher, client)).toBe(true);
              if (voucher.total > 0n)
                expect(verifyVoucher({ ...voucher, total: voucher.total - 1n }, client)).toBe(false);
              expect(verifyVoucher({ ...voucher, total: voucher.total + 1n }, client)).toBe(false);
              queryId = voucher.queryId;
            }
            // Concurrent adds are serialized: none is lost.
            const more = await Promise.all(amounts.map((amount) => signer.add(amount)));
            const totals = more.map((voucher) => voucher.total);
            expect(totals).toContain(total * 2n);
            expect(totals.every((t) => t <= total * 2n)).toBe(true);
          },
        ),
        runs(50),
      );
    },
    timeoutFor(10),
  );

  it(
    'billed amounts never exceed the max cost nor the usage cost, and never shrink as usage grows',
    () => {
      const token = fc.integer({ min: 0, max: 0xffffffff });
      const schedule = fc.record({
        pricePerToken: fc.bigInt({ min: 0n, max: 10n ** 12n }),
        promptMultiplier: fc.integer({ min: 0, max: 100_000 }),
        completionMultiplier: fc.integer({ min: 0, max: 100_000 }),
      });
      fc.assert(
        fc.property(
          token,
          token,
          token,
          schedule,
          fc.bigInt({ min: 0n, max: 10n ** 30n }),
          (p, c, extra, s, max) => {
            const usage = { promptTokens: p, completionTokens: c };
            const billed = billedAmount(usage, s, max);
            expect(billed >= 0n && billed <= max && billed <= jobCost(usage, s)).toBe(true);
            const grown = { promptTokens: p, completionTokens: Math.min(0xffffffff, c + extra) };
            expect(billedAmount(grown, s, max) >= billed).toBe(true);
          },
        ),
        runs(300),
      );
    },
    timeoutFor(1),
  );
});
