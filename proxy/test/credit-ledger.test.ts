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
import { waitFor } from './support/wait.js';

let testStore: Awaited<ReturnType<typeof openTestStore>>;

beforeAll(async () => {
  testStore = await openTestStore();
});
afterAll(async () => {
  await testStore.remove();
});

const hex = (bytes: number) => toHex(randomBytes(bytes));

/** A credit source and how a job of it is charged: a recorded receipt, then the router's settle. */
interface CreditUnderTest {
  credit: CreditSource;
  charge(client: string, jobId: string, spent: bigint): Promise<void>;
}

const credits: [string, () => CreditUnderTest][] = [
  [
    'MemoryCredit',
    () => {
      const credit = new MemoryCredit(fixedAllowance(1_000n));
      return { credit, charge: (_client, jobId, spent) => credit.settle(jobId, spent) };
    },
  ],
  [
    'StoreCredit',
    () => {
      const credit = new StoreCredit(testStore.store.db, fixedAllowance(1_000n), { foldMs: 10 });
      return { credit, charge: (client, jobId, spent) => chargeReceipt(credit, client, jobId, spent) };
    },
  ],
];

const ledgerWorker = generateSigningKeyPair();

/** Records a receipt of `spent` for the job, as the router does, then settles the job with it. */
async function chargeReceipt(credit: CreditSource, client: string, jobId: string, spent: bigint) {
  const receipt = makeReceipt({ jobId, client, worker: toHex(ledgerWorker.publicKey), amount: spent });
  await new Ledger(testStore.store.db).record(
    signReceipt(receipt, ledgerWorker.secretKey),
    receipt,
    'payout-l',
  );
  await credit.settle(jobId, spent);
}

describe.each(credits)('%s', (_name, make) => {
  it('reserves up to the allowance and charges only what was spent', async () => {
    const { credit, charge } = make();
    const client = hex(32);
    const [first, second] = [hex(16), hex(16)];
    await credit.reserve(client, first, 600n);
    await expect(credit.reserve(client, second, 401n)).rejects.toMatchObject({ code: 'insufficient_credit' });
    await credit.reserve(client, second, 400n);
    expect(await credit.available(client)).toBe(0n);
    await charge(client, first, 250n);
    expect(await credit.available(client)).toBe(350n);
    // A second settle of the same job does nothing.
    await credit.settle(first, 250n);
    expect(await credit.available(client)).toBe(350n);
    await credit.settle(second, 0n);
    expect(await credit.available(client)).toBe(750n);
    expect(await credit.available(hex(32))).toBe(1_000n);
    await credit.close?.();
  });

  it('refuses a second reservation for the same job', async () => {
    const { credit } = make();
    const client = hex(32);
    const job = hex(16);
    await credit.reserve(client, job, 1n);
    await expect(credit.reserve(client, job, 1n)).rejects.toBeInstanceOf(ProxyError);
    expect(await credit.available(client)).toBe(999n);
    await credit.close?.();
  });

  it('never over-reserves under concurrent reservations', async () => {
    const { credit } = make();
    const client = hex(32);
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () => credit.reserve(client, hex(16), 100n)),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(10);
    expect(await credit.available(client)).toBe(0n);
    await credit.close?.();
  });

  it('gives each of reservations sent together its own outcome, in order per client', async () => {
    const { credit, charge } = make();
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
    await charge(a, j1, 100n);
    expect(await credit.available(a)).toBe(500n);
    await credit.close?.();
  });
});

describe('StoreCredit leases', () => {
  const leases = (client: string) =>
    testStore.store.db
      .selectFrom('proxy_credit_leases')
      .select(['holder', 'amount'])
      .where('client', '=', client)
      .execute();
  const held = async (client: string) =>
    (
      await testStore.store.db
        .selectFrom('proxy_credit')
        .select('held')
        .where('client', '=', client)
        .executeTakeFirst()
    )?.held;

  it('hold credit another proxy cannot take until it is given back, and count receipts once', async () => {
    const first = new StoreCredit(testStore.store.db, fixedAllowance(1_000n), { foldMs: 10 });
    const second = new StoreCredit(testStore.store.db, fixedAllowance(1_000n), { foldMs: 10 });
    const client = hex(32);
    const [job, other] = [hex(16), hex(16)];
    await first.reserve(client, job, 300n);
    // The first proxy's lease covers the job and as much again for the next ones.
    expect(await leases(client)).toEqual([{ holder: first.holder, amount: 600n }]);
    expect(await held(client)).toBe(600n);
    await expect(second.reserve(client, other, 500n)).rejects.toMatchObject({ code: 'insufficient_credit' });
    expect(await second.available(client)).toBe(400n);
    await second.reserve(client, other, 400n);

    await chargeReceipt(first, client, job, 120n);
    expect(await first.available(client)).toBe(1_000n - 120n - 400n);
    // Idle, the first proxy gives its lease back; what the receipt charged stays charged.
    await waitFor(async () => (await leases(client)).length === 1, 'the idle lease given back');
    expect(await second.available(client)).toBe(1_000n - 120n - 400n);
    await second.settle(other, 0n);
    await waitFor(async () => (await held(client)) === 0n, 'every lease given back');
    expect(await first.available(client)).toBe(880n);
    await Promise.all([first.close(), second.close()]);
  });

  it('takes no new job on a lease granted under a higher allowance than the client has now', async () => {
    let allowance = 1_000n;
    const credit = new StoreCredit(
      testStore.store.db,
      { allowance: async () => allowance },
      { foldMs: 60_000 },
    );
    const client = hex(32);
    await credit.reserve(client, hex(16), 100n);
    expect((await leases(client))[0]?.amount).toBe(200n);
    allowance = 150n;
    await expect(credit.reserve(client, hex(16), 100n)).rejects.toMatchObject({
      code: 'insufficient_credit',
    });
    // the unused part went back with the check: the lease holds the job in flight only
    expect((await leases(client))[0]?.amount).toBe(100n);
    await credit.reserve(client, hex(16), 50n);
    await credit.close();
    expect(await leases(client)).toEqual([]);
  });

  it('releases the leases of a proxy that stopped renewing them, and only those', async () => {
    const crashed = new StoreCredit(testStore.store.db, fixedAllowance(1_000n), { foldMs: 3_600_000 });
    const live = new StoreCredit(testStore.store.db, fixedAllowance(1_000n), { foldMs: 10 });
    const [client, busy] = [hex(32), hex(32)];
    await crashed.reserve(client, hex(16), 500n);
    await live.reserve(busy, hex(16), 100n);
    expect(await live.available(client)).toBe(0n);
    await new Promise((resolve) => setTimeout(resolve, 60));
    // Other tests' abandoned leases in this store are stale too.
    expect(await live.recover(1)).toBeGreaterThanOrEqual(1);
    expect(await leases(client)).toEqual([]);
    expect(await held(client)).toBe(0n);
    expect(await leases(busy)).toEqual([{ holder: live.holder, amount: 200n }]);
    expect(await live.available(client)).toBe(1_000n);
    await live.close();
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
