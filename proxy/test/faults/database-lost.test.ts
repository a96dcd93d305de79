// A proxy on a real Postgres server that is stopped and started again mid-traffic: jobs during the outage
// are refused with a clear error and charged nothing, the proxy recovers without a restart, and no receipt
// a client got is missing from the ledger.
import { tmpdir } from 'node:os';
import { verifyReceipt } from '@cocoon/shared';
import { openStore, type Store } from '@cocoon/shared/store/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../../shared/test/support/postgres.js';
import { fixedAllowance, StoreCredit } from '../../src/credit.js';
import type { ProxyDb } from '../../src/db.js';
import { type Harness, MODEL, startHarness } from '../support/harness.js';
import type { TestClient } from '../support/test-client.js';
import type { TestWorker } from '../support/test-worker.js';
import { waitFor } from '../support/wait.js';

let postgres: TestPostgres;
let store: Store<ProxyDb>;
let harness: Harness;

beforeAll(async () => {
  postgres = await startPostgres();
  store = await openStore<ProxyDb>({ databaseUrl: postgres.url, dataDir: tmpdir() });
  harness = await startHarness(store, {
    credit: new StoreCredit(store.db, fixedAllowance(10n ** 12n)),
  });
}, 90_000);

afterAll(async () => {
  await harness?.close();
  await store?.close();
  await postgres?.stop();
});

type Outcome =
  | { kind: 'receipt'; jobId: string; client: string; amount: bigint; at: number }
  | { kind: 'refused'; jobId: string; client: string; status: number; code: string; at: number }
  | { kind: 'broken'; jobId: string; client: string; error: string; at: number };

/** Clients sending jobs back to back to every worker until stopped; each job's outcome. */
function traffic(clients: TestClient[], workers: TestWorker[]) {
  const outcomes: Outcome[] = [];
  let running = true;
  const loops = clients.map(async (client) => {
    for (let n = 0; running && n < 2_000; n++) {
      const { sealed, jobKey } = await client.seal(
        MODEL,
        workers.map((w) => w.hpkePublicKey),
      );
      const jobId = sealed.header.jobId;
      const base = { jobId, client: client.account };
      try {
        const outcome = await client.run(sealed, jobKey);
        const at = Date.now();
        if (outcome.receipt) {
          const amount = verifyReceipt(outcome.receipt).amount;
          outcomes.push({ kind: 'receipt', ...base, amount, at });
        } else if (outcome.error) {
          outcomes.push({ kind: 'refused', ...base, status: outcome.status, code: outcome.error.code, at });
        } else {
          const last = outcome.events.at(-1);
          outcomes.push({
            kind: 'refused',
            ...base,
            status: outcome.status,
            code: last?.type === 'error' ? last.code : 'no receipt',
            at,
          });
        }
      } catch (error) {
        outcomes.push({ kind: 'broken', ...base, error: String(error), at: Date.now() });
      }
      if (outcomes.at(-1)?.kind !== 'receipt') await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  return {
    outcomes,
    receipts: () => outcomes.filter((o) => o.kind === 'receipt').length,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('the Postgres server stopped and started again under traffic', () => {
  it('refuses jobs clearly during the outage, charges none of them, and recovers without a restart', async () => {
    const workers = [await harness.worker(), await harness.worker()];
    const clients = [harness.client(), harness.client(), harness.client()];
    const run = traffic(clients, workers);

    await waitFor(() => run.receipts() >= 20, '20 receipts before the outage', 30_000);
    const outageFrom = Date.now();
    await postgres.pause();
    const during = run.outcomes.length;
    await waitFor(() => run.outcomes.length >= during + 6, 'jobs answered during the outage', 30_000);
    await postgres.resume();
    const outageTo = Date.now();
    const before = run.receipts();
    await waitFor(() => run.receipts() >= before + 20, '20 receipts after the outage', 30_000);
    await run.stop();

    // the proxy never went away
    expect((await fetch(`${harness.proxy.url}/healthz`)).status).toBe(200);
    const inOutage = run.outcomes.filter((o) => o.at > outageFrom && o.at < outageTo && o.kind !== 'receipt');
    expect(inOutage.length).toBeGreaterThan(0);
    // refused with a status and a code, not a connection that broke or hung
    expect(run.outcomes.filter((o) => o.kind === 'broken')).toEqual([]);
    const label = (o: Outcome) => (o.kind === 'refused' ? `${o.status} ${o.code}` : o.kind);
    const refusals = new Set(inOutage.map(label));
    // Once a receipt could not be recorded, new jobs are refused before any worker runs them (a worker would
    // not be paid for them): only jobs already running when the store went away end without a receipt.
    expect(refusals).toContain('503 store_unavailable');
    const answeredUnrecorded = inOutage.filter((o) => o.kind === 'refused' && o.status === 200);
    expect(answeredUnrecorded.length).toBeLessThanOrEqual(2 * clients.length);

    const receipts = await store.db.selectFrom('proxy_receipts').select(['job_id', 'amount']).execute();
    const recorded = new Map(receipts.map((r) => [r.job_id, BigInt(r.amount)]));
    for (const outcome of run.outcomes) {
      // no receipt a client got is missing; no refused job was recorded
      if (outcome.kind === 'receipt') expect(recorded.get(outcome.jobId), outcome.jobId).toBe(outcome.amount);
      else expect(recorded.has(outcome.jobId), `${outcome.jobId} ${outcome.kind}`).toBe(false);
    }

    // Credit: each client is charged what its receipts say, and once the clients are idle the proxy has given
    // back every lease, including what it held through the outage.
    await waitFor(
      async () => (await store.db.selectFrom('proxy_credit_leases').select('client').execute()).length === 0,
      'the leases given back',
      10_000,
    );
    const credit = await store.db.selectFrom('proxy_credit').select(['client', 'held']).execute();
    for (const client of clients) {
      const charged = run.outcomes.reduce(
        (sum, o) => sum + (o.kind === 'receipt' && o.client === client.account ? o.amount : 0n),
        0n,
      );
      expect((await harness.proxy.ledger.clientTotals(client.account)).amount).toBe(charged);
      expect(credit.find((c) => c.client === client.account)?.held).toBe(0n);
    }
    console.log(
      `database lost: ${run.receipts()} receipts, ${inOutage.length} jobs refused in a ${outageTo - outageFrom} ms outage ` +
        `(${[...refusals].map((r) => `${inOutage.filter((o) => label(o) === r).length} × ${r}`).join(', ')})`,
    );
  }, 120_000);
});
