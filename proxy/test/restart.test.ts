import { randomBytes, type SignedReceipt, toHex, verifyReceipt } from '@cocoon/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedAllowance, StoreCredit } from '../src/credit.js';
import { MODEL, openTestStore, startHarness } from './support/harness.js';
import { TestClient } from './support/test-client.js';

let testStore: Awaited<ReturnType<typeof openTestStore>>;

beforeAll(async () => {
  testStore = await openTestStore();
});
afterAll(async () => {
  await testStore.remove();
});

describe('a proxy restarted on the same store', () => {
  it('keeps receipts and totals, and releases the credit a killed run held', async () => {
    const first = await startHarness(testStore.store, {
      credit: new StoreCredit(testStore.store.db, fixedAllowance(1_000_000n)),
    });
    const worker = await first.worker();
    const client = first.client();
    const { sealed, jobKey } = await client.seal(MODEL, [worker.hpkePublicKey], { maxCost: 10_000n });
    const outcome = await client.run(sealed, jobKey);
    expect(outcome.events.at(-1)?.type).toBe('receipt');
    const charged = verifyReceipt(outcome.receipt as SignedReceipt).amount;
    expect(charged).toBeGreaterThan(0n);
    await first.close();

    // A run killed with a job in flight: its lease stays in the store, never renewed again.
    const killed = new StoreCredit(testStore.store.db, fixedAllowance(1_000_000n), { foldMs: 3_600_000 });
    await killed.reserve(client.account, toHex(randomBytes(16)), 50_000n);

    const credit = new StoreCredit(testStore.store.db, fixedAllowance(1_000_000n), { foldMs: 10 });
    expect(await credit.available(client.account)).toBe(1_000_000n - charged - 100_000n);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await startHarness(testStore.store, {
      credit,
      limits: { jobDeadlineMs: 1, receiptGraceMs: 1 },
    });
    try {
      expect(await credit.available(client.account)).toBe(1_000_000n - charged);
      const sameClient = new TestClient(second.proxy.url, client.keys);
      const stored = await sameClient.get(`/v1/receipts/${sealed.header.jobId}`);
      expect(stored.status).toBe(200);
      expect(((await stored.json()) as { receipt: unknown }).receipt).toEqual(outcome.receipt);
      expect((await second.client().get(`/v1/receipts/${sealed.header.jobId}`)).status).toBe(404);
      expect((await second.proxy.ledger.clientTotals(client.account)).amount).toBe(charged);
    } finally {
      await second.close();
    }
  });
});
