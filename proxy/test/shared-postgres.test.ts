import { tmpdir } from 'node:os';
import { openStore, type Store } from '@cocoon/shared/store/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../shared/test/support/postgres.js';
import { fixedAllowance, StoreCredit } from '../src/credit.js';
import type { ProxyDb } from '../src/db.js';
import { type Harness, MODEL, startHarness } from './support/harness.js';
import { TestClient } from './support/test-client.js';
import { waitFor } from './support/wait.js';

/** Two proxies as two processes would run them: each with its own connection pool to one Postgres server. */
let postgres: TestPostgres;
const stores: Store<ProxyDb>[] = [];
const harnesses: Harness[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
});

afterAll(async () => {
  for (const harness of harnesses) await harness.close();
  for (const store of stores) await store.close();
  await postgres?.stop();
});

async function proxyOnSharedDatabase(allowance: bigint): Promise<Harness> {
  // The data folder is only for the embedded database; with a URL nothing is written there.
  const store = await openStore<ProxyDb>({ databaseUrl: postgres.url, dataDir: tmpdir() });
  stores.push(store);
  const harness = await startHarness(store, { credit: new StoreCredit(store.db, fixedAllowance(allowance)) });
  harnesses.push(harness);
  return harness;
}

describe('several proxies on one Postgres', () => {
  it("hold one view of a client's credit and of what every job was charged", async () => {
    const [first, second] = [await proxyOnSharedDatabase(1_500n), await proxyOnSharedDatabase(1_500n)];
    if (first === undefined || second === undefined) throw new Error('two proxies');
    const holding = await first.worker({ behaviour: 'hold', models: [{ model: MODEL, pricePerToken: 1n }] });
    const echoing = await second.worker({ models: [{ model: MODEL, pricePerToken: 1n }] });
    const keys = first.client().keys;
    const atFirst = new TestClient(first.proxy.url, keys);
    const atSecond = new TestClient(second.proxy.url, keys);

    // A job held on the first proxy reserves 1,000 of the client's 1,500 nanotons in the shared database…
    const held = await atFirst.seal(MODEL, [holding.hpkePublicKey], { maxCost: 1_000n });
    const running = atFirst.run(held.sealed, held.jobKey);
    await waitFor(() => holding.isHeld(held.sealed.header.jobId), 'job held by the first proxy');

    // …so the second proxy, in another pool, cannot reserve another 1,000 for the same client.
    const refused = await atSecond.seal(MODEL, [echoing.hpkePublicKey], { maxCost: 1_000n });
    const response = await atSecond.post(refused.sealed);
    expect(response.status).toBe(402);
    expect(await response.json()).toMatchObject({ error: { code: 'insufficient_credit' } });

    // Once the first job ends and its receipt charges what it cost, the first proxy gives the rest back
    // (within two folds of its lease, the client being idle there), free again on both.
    holding.release(held.sealed.header.jobId);
    expect((await running).status).toBe(200);
    await waitFor(
      async () => (await second.credit.available(atSecond.account)) >= 1_000n,
      'the first proxy to give back its lease',
    );
    const accepted = await atSecond.seal(MODEL, [echoing.hpkePublicKey], { maxCost: 1_000n });
    expect((await atSecond.run(accepted.sealed, accepted.jobKey)).status).toBe(200);

    const seenByFirst = await first.proxy.ledger.clientTotals(atFirst.account);
    const seenBySecond = await second.proxy.ledger.clientTotals(atSecond.account);
    expect(seenByFirst).toEqual(seenBySecond);
    expect(seenByFirst.jobs).toBe(2n);
  });
});
