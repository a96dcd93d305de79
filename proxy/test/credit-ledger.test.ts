import {
  generateSigningKeyPair,
  type ModelOffer,
  type Receipt,
  randomBytes,
  receiptId,
  signReceipt,
  toHex,
} from '@cocoon/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CreditSource, fixedAllowance, MemoryCredit, StoreCredit } from '../src/credit.js';
import { ProxyError } from '../src/errors.js';
import { checkReceipt, type JobTerms, Ledger } from '../src/ledger.js';
import { openTestStore } from './support/harness.js';

let testStore: Awaited<ReturnType<typeof openTestStore>>;

beforeAll(async () => {
  testStore = await openTestStore();
});
afterAll(async () => {
  await testStore.remove();
});

const hex = (bytes: number) => toHex(randomBytes(bytes));

describe.each([
  ['MemoryCredit', () => new MemoryCredit(fixedAllowance(1_000n))],
  ['StoreCredit', () => new StoreCredit(testStore.store.db, fixedAllowance(1_000n))],
] as const)('%s', (_name, make: () => CreditSource) => {
  it('reserves up to the allowance and charges only what was spent', async () => {
    const credit = make();
    const client = hex(32);
    const [first, second] = [hex(16), hex(16)];
    await credit.reserve(client, first, 600n);
    await expect(credit.reserve(client, second, 401n)).rejects.toMatchObject({ code: 'insufficient_credit' });
    await credit.reserve(client, second, 400n);
    expect(await credit.available(client)).toBe(0n);
    await credit.settle(first, 250n);
    expect(await credit.available(client)).toBe(350n);
    // A second settle of the same job does nothing; spent never exceeds what was reserved.
    await credit.settle(first, 250n);
    await credit.settle(second, 10_000n);
    expect(await credit.available(client)).toBe(350n);
    expect(await credit.available(hex(32))).toBe(1_000n);
  });

  it('refuses a second reservation for the same job', async () => {
    const credit = make();
    const client = hex(32);
    const job = hex(16);
    await credit.reserve(client, job, 1n);
    await expect(credit.reserve(client, job, 1n)).rejects.toBeInstanceOf(ProxyError);
    expect(await credit.available(client)).toBe(999n);
  });

  it('never over-reserves under concurrent reservations', async () => {
    const credit = make();
    const client = hex(32);
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () => credit.reserve(client, hex(16), 100n)),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(10);
    expect(await credit.available(client)).toBe(0n);
  });

  it('gives each of reservations sent together its own outcome, in order per client', async () => {
    const credit = make();
    const [a, b] = [hex(32), hex(32)];
    const [j1, j2, j3, j4, j5] = [hex(16), hex(16), hex(16), hex(16), hex(16)];
    const outcomes = await Promise.allSettled([
      credit.reserve(a, j1, 600n),
      credit.reserve(b, j2, 900n),
      credit.reserve(a, j3, 500n),
      credit.reserve(a, j1, 1n),
      credit.reserve(b, j4, 100n),
      credit.reserve(a, j5, 400n),
    ]);
    const code = (outcome: PromiseSettledResult<void>) =>
      outcome.status === 'fulfilled' ? 'reserved' : (outcome.reason as ProxyError).code;
    expect(outcomes.map(code)).toEqual([
      'reserved',
      'reserved',
      'insufficient_credit',
      'duplicate_job',
      'reserved',
      'reserved',
    ]);
    expect([await credit.available(a), await credit.available(b)]).toEqual([0n, 0n]);
    await credit.settle(j1, 100n);
    expect(await credit.available(a)).toBe(500n);
  });
});

describe('StoreCredit.recover', () => {
  it('settles stale reservations with their stored receipt, or with nothing', async () => {
    const credit = new StoreCredit(testStore.store.db, fixedAllowance(1_000n));
    const ledger = new Ledger(testStore.store.db);
    const worker = generateSigningKeyPair();
    const client = hex(32);
    const [paid, unpaid] = [hex(16), hex(16)];
    await credit.reserve(client, paid, 300n);
    await credit.reserve(client, unpaid, 300n);
    const receipt = makeReceipt({ jobId: paid, client, worker: toHex(worker.publicKey), amount: 120n });
    await ledger.record(signReceipt(receipt, worker.secretKey), receipt, 'payout-a');
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Other tests' reservations in this store are stale too.
    expect(await credit.recover(10)).toBeGreaterThanOrEqual(2);
    expect(await credit.available(client)).toBe(880n);
    expect(await credit.recover(10)).toBe(0);
  });
});

function makeReceipt(overrides: Partial<Receipt>): Receipt {
  return {
    jobId: hex(16),
    client: hex(32),
    model: hex(32),
    promptTokens: 4,
    completionTokens: 8,
    pricePerToken: 10n,
    amount: 120n,
    requestHash: hex(32),
    responseHash: hex(32),
    worker: hex(32),
    time: 1_800_000_000,
    ...overrides,
  };
}

describe('Ledger', () => {
  it('records a receipt once and adds it to the client and worker totals', async () => {
    const ledger = new Ledger(testStore.store.db);
    const worker = generateSigningKeyPair();
    const receipt = makeReceipt({ worker: toHex(worker.publicKey) });
    const signed = signReceipt(receipt, worker.secretKey);
    expect(await ledger.record(signed, receipt, 'payout-b')).toEqual({ id: receiptId(receipt), fresh: true });
    expect(await ledger.record(signed, receipt, 'payout-b')).toEqual({
      id: receiptId(receipt),
      fresh: false,
    });
    const second = makeReceipt({ client: receipt.client, worker: toHex(worker.publicKey), amount: 5n });
    await ledger.record(signReceipt(second, worker.secretKey), second, 'payout-b');
    expect(await ledger.clientTotals(receipt.client)).toEqual({
      jobs: 2n,
      promptTokens: 8n,
      completionTokens: 16n,
      amount: 125n,
    });
    expect((await ledger.workerTotals('payout-b')).amount).toBe(125n);
    expect(await ledger.find(receiptId(receipt), receipt.client)).toEqual(signed);
    expect(await ledger.find(receipt.jobId, receipt.client)).toEqual(signed);
    expect(await ledger.find(receipt.jobId, hex(32))).toBeUndefined();
  });

  it('stores receipts sent together in one batch, each once, and totals only the fresh ones', async () => {
    const ledger = new Ledger(testStore.store.db);
    const worker = generateSigningKeyPair();
    const client = hex(32);
    const receipts = Array.from({ length: 5 }, (_, i) =>
      makeReceipt({ client, worker: toHex(worker.publicKey), amount: BigInt(10 + i) }),
    );
    const first = receipts[0] as Receipt;
    // Another receipt for the first job (a replay through another route): the job id is unique.
    const sameJob = makeReceipt({ ...first, amount: 99n });
    const batch = [...receipts, first, sameJob].map((receipt) =>
      ledger.record(signReceipt(receipt, worker.secretKey), receipt, `payout-${client}`),
    );
    const results = await Promise.all(batch);
    expect(results.map((result) => result.fresh)).toEqual([true, true, true, true, true, false, false]);
    expect(await ledger.clientTotals(client)).toEqual({
      jobs: 5n,
      promptTokens: 20n,
      completionTokens: 40n,
      amount: 60n,
    });
    expect(await ledger.workerTotals(`payout-${client}`)).toEqual(await ledger.clientTotals(client));
  });

  it('ends the job’s credit reservation in the same write as its receipt', async () => {
    const credit = new StoreCredit(testStore.store.db, fixedAllowance(1_000n));
    const ledger = new Ledger(testStore.store.db);
    const worker = generateSigningKeyPair();
    const client = hex(32);
    const [paid, over, open] = [hex(16), hex(16), hex(16)];
    await credit.reserve(client, paid, 300n);
    await credit.reserve(client, over, 100n);
    await credit.reserve(client, open, 200n);
    const receipts = [
      makeReceipt({ jobId: paid, client, worker: toHex(worker.publicKey), amount: 120n }),
      // a receipt above its reservation charges the reservation only (as settle does)
      makeReceipt({ jobId: over, client, worker: toHex(worker.publicKey), amount: 150n }),
    ];
    await Promise.all(
      receipts.map((receipt) => ledger.record(signReceipt(receipt, worker.secretKey), receipt, 'payout-c')),
    );
    expect(await credit.available(client)).toBe(1_000n - 120n - 100n - 200n);
    // the router's settle afterwards finds nothing left to settle
    await credit.settle(paid, 120n);
    await credit.settle(over, 150n);
    expect(await credit.available(client)).toBe(580n);
    await credit.settle(open, 0n);
    expect(await credit.available(client)).toBe(780n);
  });

  it('totals amounts beyond 2^64 nanotons exactly', async () => {
    const ledger = new Ledger(testStore.store.db);
    const worker = generateSigningKeyPair();
    const client = hex(32);
    const big = 2n ** 70n;
    for (let i = 0; i < 2; i++) {
      const receipt = makeReceipt({ client, worker: toHex(worker.publicKey), amount: big + BigInt(i) });
      await ledger.record(signReceipt(receipt, worker.secretKey), receipt, 'payout-big');
    }
    expect((await ledger.clientTotals(client)).amount).toBe(2n * big + 1n);
  });
});

describe('checkReceipt', () => {
  const worker = generateSigningKeyPair();
  const offer: ModelOffer = {
    model: hex(32),
    name: 'm',
    pricePerToken: 10n,
    priceCoefficient: 10_000,
    promptMultiplier: 10_000,
    completionMultiplier: 20_000,
    contextSize: 4096,
  };
  const terms: JobTerms = {
    jobId: hex(16),
    client: hex(32),
    model: offer.model,
    maxCost: 1_000n,
    workerSignKey: toHex(worker.publicKey),
    payoutAddress: 'payout-c',
    offer,
  };
  // 4 prompt tokens at 1× and 8 completion tokens at 2×: 20 weighted tokens at 10 nanotons.
  const good = makeReceipt({
    jobId: terms.jobId,
    client: terms.client,
    model: terms.model,
    worker: terms.workerSignKey,
    amount: 200n,
  });
  const check = (changes: Partial<Receipt>, key = worker.secretKey) =>
    checkReceipt(signReceipt({ ...good, ...changes }, key), terms);

  it('accepts a receipt matching the job and the attested key', async () => {
    expect(await check({})).toEqual({ receipt: good, id: receiptId(good) });
    expect((await check({ amount: 150n })).receipt.amount).toBe(150n);
  });

  it.each([
    [{ jobId: hex(16) }, 'wrong_job'],
    [{ client: hex(32) }, 'wrong_client'],
    [{ model: hex(32) }, 'wrong_model'],
    [{ pricePerToken: 11n, amount: 0n }, 'over_price'],
    [{ amount: 201n }, 'over_cost'],
    [{ promptTokens: 400, amount: 1_001n }, 'over_max_cost'],
  ] as const)('refuses %o as %s', async (changes, code) => {
    await expect(check(changes)).rejects.toThrow(expect.objectContaining({ code }));
  });

  it('refuses a receipt signed by another key than the attested one', async () => {
    const other = generateSigningKeyPair();
    await expect(check({ worker: toHex(other.publicKey) }, other.secretKey)).rejects.toThrow(
      expect.objectContaining({ code: 'wrong_worker' }),
    );
    await expect(check({}, other.secretKey)).rejects.toThrow(
      expect.objectContaining({ code: 'signature_invalid' }),
    );
  });
});

describe('Ledger group commit', () => {
  it('stores concurrent receipts in batches with exact totals, counting a job once', async () => {
    const ledger = new Ledger(testStore.store.db);
    const worker = generateSigningKeyPair();
    const client = hex(32);
    const receipts = Array.from({ length: 40 }, (_, i) =>
      makeReceipt({ client, worker: toHex(worker.publicKey), amount: BigInt(i + 1) }),
    );
    const first = receipts[0] as Receipt;
    // The same receipt twice, and a second receipt for the first job: neither adds anything.
    const again = { ...first };
    const rival = { ...first, amount: 1_000n };
    const all = [...receipts, again, rival];
    const results = await Promise.all(
      all.map((receipt) =>
        ledger.record(signReceipt(receipt, worker.secretKey), receipt, `payout-${client}`),
      ),
    );
    expect(results.filter((result) => result.fresh)).toHaveLength(40);
    expect(results.slice(-2).map((result) => result.fresh)).toEqual([false, false]);
    const totals = await ledger.clientTotals(client);
    expect(totals.jobs).toBe(40n);
    expect(totals.amount).toBe((40n * 41n) / 2n);
    expect((await ledger.workerTotals(`payout-${client}`)).amount).toBe((40n * 41n) / 2n);
  });
});
