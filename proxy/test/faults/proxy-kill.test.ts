// A `cocoon-proxy` process SIGKILLed mid-traffic and mid-settlement, restarted on the same data folder
// (its PGlite database and its sandbox chain): no receipt is lost, nothing is charged or paid twice, and
// settlement completes after the restart.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError, CocoonClient, generateSigningKeyPair, type Receipt, toHex } from '@cocoon/shared';
import { MemoryVoucherStore } from '@cocoon/shared/client/voucher';
import { toNano } from '@ton/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL } from '../support/harness.js';
import { TestWorker } from '../support/test-worker.js';
import { waitFor } from '../support/wait.js';
import {
  freePort,
  type PreparedSandbox,
  ProxyProcess,
  prepareSandbox,
  readChainTotals,
  readProxyDb,
} from './support.js';

const PRICE = 20n;
const WORKERS = 2;
let dir: string;
let dataDir: string;
let env: Record<string, string>;
let sandbox: PreparedSandbox;
let proxy: ProxyProcess | undefined;
let workers: TestWorker[] = [];
const payoutAddresses = Array.from(
  { length: WORKERS },
  () => `0:${toHex(generateSigningKeyPair().publicKey)}`,
);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cocoon-proxy-kill-'));
  dataDir = join(dir, 'data');
  sandbox = await prepareSandbox(dataDir, { models: [MODEL], clients: 3, deposit: toNano('1') });
  env = {
    COCOON_DATA_DIR: dataDir,
    ROOT_ADDRESS: sandbox.rootAddress,
    PROXY_PORT: String(await freePort()),
    ATTESTATION_ALLOW_DEV: 'true',
    // settle (nearly) every job: settlement messages are in flight whenever the proxy dies
    PROXY_CHARGE_THRESHOLD: '1',
    PROXY_PAYOUT_THRESHOLD: '1',
    PROXY_CHARGE_INTERVAL_SECONDS: '1',
    PROXY_PAYOUT_INTERVAL_SECONDS: '1',
    PROXY_STATE_INTERVAL_SECONDS: '2',
  };
}, 60_000);

afterAll(async () => {
  for (const worker of workers) worker.kill();
  await proxy?.stop('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Workers hold every job until the pump releases it, so the test decides when jobs are in flight. */
async function connectWorkers(url: string): Promise<void> {
  workers = await Promise.all(
    payoutAddresses.map((payoutAddress) =>
      TestWorker.connect({
        url: `${url.replace('http', 'ws')}/v1/worker`,
        models: [{ model: MODEL, pricePerToken: PRICE }],
        behaviour: 'hold',
        payoutAddress,
        capacity: 8,
      }),
    ),
  );
  for (const worker of workers) expect(worker.workerId, worker.rejected).toBeDefined();
}

let pumping = true;
function heldJobs(): { worker: TestWorker; jobId: string }[] {
  return workers.flatMap((worker) =>
    worker.received.filter((jobId) => worker.isHeld(jobId)).map((jobId) => ({ worker, jobId })),
  );
}
const pump = setInterval(() => {
  if (pumping) for (const { worker, jobId } of heldJobs()) worker.release(jobId);
}, 10);
pump.unref();

/** Clients sending jobs back to back until told to stop; what each got and what failed. */
class Traffic {
  readonly receipts: Receipt[][];
  readonly failures: unknown[] = [];
  readonly clients: CocoonClient[];
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(url: string) {
    this.clients = sandbox.clients.map(
      (account) =>
        new CocoonClient({
          proxyUrl: url,
          clientKey: account.key,
          policy: sandbox.policy,
          vouchers: { owner: account.owner, contract: account.contract, store: new MemoryVoucherStore() },
        }),
    );
    this.receipts = this.clients.map(() => []);
    this.#loops = this.clients.map((client, i) => this.#loop(client, i));
  }

  async #loop(client: CocoonClient, index: number): Promise<void> {
    for (let n = 0; this.#running && n < 5_000; n++) {
      try {
        const result = await client.chat(
          { messages: [{ role: 'user', content: `job ${n} of client ${index}: some words to echo back` }] },
          { model: MODEL, signal: AbortSignal.timeout(20_000) },
        );
        this.receipts[index]?.push(result.receipt);
      } catch (error) {
        this.failures.push(error);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  get answered(): number {
    return this.receipts.reduce((sum, list) => sum + list.length, 0);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }
}

const chainFile = () => join(dataDir, 'chain.json');
const chainSaved = async () => (await stat(chainFile())).mtimeMs;

/**
 * Resolves inside an outbox tick: the sandbox chain is saved after every message, and a tick sends one
 * message per client and worker back to back, so two saves within 150 ms mean more are on their way
 * (a lone save is a state record).
 */
async function settlementBurst(): Promise<void> {
  let last = await chainSaved();
  let lastChangeAt = 0;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const saved = await chainSaved();
    if (saved !== last) {
      if (Date.now() - lastChangeAt < 150) return;
      last = saved;
      lastChangeAt = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error('no settlement burst within 20 s');
}

describe('cocoon-proxy SIGKILLed and restarted on the same data folder', () => {
  it('loses no receipt, charges and pays each total once, and settles after the restart', async () => {
    const before = await readChainTotals(
      dataDir,
      sandbox.clients.map((c) => c.contract),
      [],
    );
    proxy = await ProxyProcess.start(env);
    await connectWorkers(proxy.url);
    const traffic = new Traffic(proxy.url);

    // 1. Mid-traffic, with jobs held inside workers: those jobs die with the proxy.
    await waitFor(() => traffic.answered >= 15, '15 answered jobs', 30_000);
    pumping = false;
    await waitFor(() => heldJobs().length >= 2, 'jobs in flight', 10_000);
    const diedInFlight = heldJobs().map((h) => h.jobId);
    await proxy.stop('SIGKILL');
    pumping = true;
    const failuresAtKill = traffic.failures.length;
    await waitFor(
      () => traffic.failures.length >= failuresAtKill + diedInFlight.length,
      'the dead jobs to fail',
      15_000,
    );

    proxy = await ProxyProcess.start(env);
    await connectWorkers(proxy.url);

    // 2. Mid-settlement: killed the moment a message lands on the chain, while a tick's other messages
    // are still to go (some tries land between ticks or on a state record: tried again, bounded).
    let leftUnconfirmed = 0;
    let tries = 0;
    while (leftUnconfirmed === 0 && tries < 5) {
      tries += 1;
      const answeredBefore = traffic.answered;
      await waitFor(() => traffic.answered >= answeredBefore + 10, '10 more answered jobs', 30_000);
      await settlementBurst();
      await proxy.stop('SIGKILL');
      leftUnconfirmed = await readProxyDb(dataDir, async ({ db }) =>
        Number(
          (
            await db
              .selectFrom('proxy_outbox')
              .select((eb) => eb.fn.countAll<bigint>().as('count'))
              .where('status', '!=', 'confirmed')
              .executeTakeFirstOrThrow()
          ).count,
        ),
      );
      proxy = await ProxyProcess.start(env);
      await connectWorkers(proxy.url);
    }
    expect(leftUnconfirmed, 'a kill left settlement messages unconfirmed').toBeGreaterThan(0);

    const answeredAfterRestart = traffic.answered;
    await waitFor(() => traffic.answered >= answeredAfterRestart + 15, 'traffic after restart', 30_000);
    await traffic.stop();
    // the last voucher of a client whose delivery fell on a dead proxy goes out now
    for (const client of traffic.clients) await client.sendVoucher();

    const live = proxy;
    await waitFor(
      async () =>
        (await live.metric('cocoon_proxy_unsettled_nanotons', 'kind="charge"')) === 0 &&
        (await live.metric('cocoon_proxy_unsettled_nanotons', 'kind="payout"')) === 0,
      'settlement to complete',
      40_000,
    );
    expect(await proxy.stop('SIGINT')).toBe(0);

    // Every failure is a typed client error: a job that died in flight is `incomplete`, a dead proxy
    // `proxy_error`, a restarted proxy that no worker has reached yet `no_verified_worker`.
    const codes = traffic.failures.map((f) => (f instanceof ClientError ? f.code : String(f)));
    const clear = new Set(['incomplete', 'proxy_error', 'no_verified_worker']);
    expect(codes.filter((code) => !clear.has(code))).toEqual([]);
    expect(codes).toContain('incomplete');

    const ledger = await readProxyDb(dataDir, async ({ db }) => ({
      receipts: await db.selectFrom('proxy_receipts').select(['job_id', 'client', 'amount']).execute(),
      vouchers: await db.selectFrom('proxy_vouchers').select(['client', 'total']).execute(),
      earnings: await db.selectFrom('proxy_worker_earnings').select(['payout_address', 'earned']).execute(),
      outbox: await db.selectFrom('proxy_outbox').select(['status']).execute(),
      leases: await db.selectFrom('proxy_credit_leases').select(['client', 'holder', 'amount']).execute(),
      credit: await db.selectFrom('proxy_credit').select(['client', 'held']).execute(),
    }));
    const recorded = new Map(ledger.receipts.map((r) => [r.job_id, BigInt(r.amount)]));
    const after = await readChainTotals(
      dataDir,
      sandbox.clients.map((c) => c.contract),
      payoutAddresses.map((p) => sandbox.workerContract(p)),
    );

    for (const [i, client] of traffic.clients.entries()) {
      const got = traffic.receipts[i] ?? [];
      // no receipt a client holds is missing from the ledger, with the same amount
      for (const receipt of got) expect(recorded.get(receipt.jobId), receipt.jobId).toBe(receipt.amount);
      const verified = got.reduce((sum, r) => sum + r.amount, 0n);
      // charged on chain exactly what the client verified and signed: not a job that died, not twice
      expect(ledger.vouchers.find((v) => v.client === client.account)?.total).toBe(verified);
      expect(after.charged[i]).toBe(verified);
      expect(after.balances[i]).toBe((before.balances[i] ?? 0n) - verified);
    }
    // the jobs that died in flight hold no receipt
    for (const jobId of diedInFlight) expect(recorded.has(jobId), jobId).toBe(false);
    // each worker paid exactly what the ledger says it earned
    for (const [i, payout] of payoutAddresses.entries()) {
      const earned = ledger.earnings.find((e) => e.payout_address === payout)?.earned ?? 0n;
      expect(earned).toBeGreaterThan(0n);
      expect(after.paid[i]).toBe(BigInt(earned));
    }
    expect(ledger.outbox.every((row) => row.status === 'confirmed')).toBe(true);
    // Credit still held is the leases of proxies that were killed (released after the job deadline): the
    // proxy stopped cleanly gave its own back, and every client's held credit is the sum of its leases.
    expect(new Set(ledger.leases.map((lease) => lease.holder)).size).toBeLessThanOrEqual(1 + tries);
    for (const { client, held } of ledger.credit) {
      const leased = ledger.leases.filter((l) => l.client === client).reduce((sum, l) => sum + l.amount, 0n);
      expect(held, client).toBe(leased);
    }
    console.log(
      `proxy kill: ${traffic.answered} answered, ${traffic.failures.length} failed (${diedInFlight.length} died in flight), ` +
        `${leftUnconfirmed} outbox rows unconfirmed at a mid-settlement kill (try ${tries}), ` +
        `${ledger.leases.length} credit leases of killed proxies still held`,
    );
  }, 150_000);
});
