import { generateSigningKeyPair, SignedReceipt, toHex, verifyReceipt } from '@cocoon/shared';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixedAllowance, MemoryCredit } from '../src/credit.js';
import { type Harness, MODEL, openTestStore, startHarness } from './support/harness.js';
import { readEvents } from './support/test-client.js';
import { waitFor } from './support/wait.js';

let testStore: Awaited<ReturnType<typeof openTestStore>>;
let harness: Harness | undefined;

beforeAll(async () => {
  testStore = await openTestStore();
});
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});
afterAll(async () => {
  await testStore.remove();
});

const ALLOWANCE = 10n ** 12n;

describe('a sealed job end to end', () => {
  it('routes, streams sealed chunks, and records the verified receipt before sending it', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker({ models: [{ model: MODEL, pricePerToken: 3n }] });
    const client = harness.client();
    const { sealed, jobKey } = await client.seal(MODEL, [worker.hpkePublicKey], { text: 'twelve chars' });
    const outcome = await client.run(sealed, jobKey);

    expect(outcome.status).toBe(200);
    expect(outcome.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    expect(outcome.text).toBe('twelve chars');
    expect(outcome.events.map((event) => event.type)).toEqual([
      'accepted',
      'chunk',
      'chunk',
      'chunk',
      'receipt',
    ]);
    const receipt = verifyReceipt(outcome.receipt as SignedReceipt);
    // 3 prompt + 3 completion tokens at 3 nanotons.
    expect(receipt.amount).toBe(18n);

    const stored = await client.get(`/v1/receipts/${sealed.header.jobId}`);
    expect(stored.status).toBe(200);
    expect(SignedReceipt.parse(((await stored.json()) as { receipt: unknown }).receipt)).toEqual(
      outcome.receipt,
    );
    expect(await harness.proxy.ledger.clientTotals(client.account)).toEqual({
      jobs: 1n,
      promptTokens: 3n,
      completionTokens: 3n,
      amount: 18n,
    });
    expect((await harness.proxy.ledger.workerTotals(worker.payoutAddress)).amount).toBe(18n);
    await waitFor(
      async () => (await harness?.credit.available(client.account)) === ALLOWANCE - 18n,
      'credit settled',
    );

    // Another client cannot read it.
    const stranger = harness.client();
    expect((await stranger.get(`/v1/receipts/${sealed.header.jobId}`)).status).toBe(404);

    // The same request again does not run again.
    const replay = await client.post(sealed);
    expect(replay.status).toBe(409);
    expect(await replay.json()).toMatchObject({ error: { code: 'duplicate_job' } });
    expect(worker.received).toEqual([sealed.header.jobId]);
  });

  it('spreads jobs over workers by load', async () => {
    harness = await startHarness(testStore.store);
    const a = await harness.worker({ behaviour: 'hold', capacity: 4 });
    const b = await harness.worker({ behaviour: 'hold', capacity: 4 });
    const client = harness.client();
    const responses: Response[] = [];
    for (let i = 0; i < 6; i++) {
      const { sealed } = await client.seal(MODEL, [a.hpkePublicKey, b.hpkePublicKey]);
      responses.push(await client.post(sealed));
      expect(Math.abs(a.received.length - b.received.length)).toBeLessThanOrEqual(1);
    }
    await waitFor(() => a.received.length + b.received.length === 6, 'all jobs at workers');
    expect([a.received.length, b.received.length]).toEqual([3, 3]);
    // With b busier, the next job goes to a.
    await waitFor(() => a.received.every((id) => a.isHeld(id)), 'a holds its jobs');
    for (const id of a.received.slice(0, 2)) a.release(id);
    await waitFor(
      () => harness?.proxy.registry.get(a.workerId as string)?.inFlight === 1,
      'a freed two slots',
    );
    const { sealed } = await client.seal(MODEL, [b.hpkePublicKey, a.hpkePublicKey]);
    responses.push(await client.post(sealed));
    expect(a.received).toContain(sealed.header.jobId);
    const held = (worker: typeof a) => worker.received.filter((id) => worker.isHeld(id)).length;
    await waitFor(() => held(a) === 2 && held(b) === 3, 'the remaining jobs held');
    for (const worker of [a, b]) {
      for (const id of worker.received) if (worker.isHeld(id)) worker.release(id);
    }
    const ends = await Promise.all(
      responses.map(async (response) => (await readEvents(response)).at(-1)?.type),
    );
    expect(ends).toEqual(Array(7).fill('receipt'));
  });

  it('answers 429 with Retry-After beyond the queue, and serves the queued job when a slot frees', async () => {
    harness = await startHarness(testStore.store, { limits: { maxQueuePerModel: 1 } });
    const worker = await harness.worker({ behaviour: 'hold', capacity: 1 });
    const client = harness.client();
    const first = await client.seal(MODEL, [worker.hpkePublicKey]);
    const firstResponse = await client.post(first.sealed);
    expect(firstResponse.status).toBe(200);

    const second = await client.seal(MODEL, [worker.hpkePublicKey]);
    const secondResponse = client.post(second.sealed);
    await waitFor(() => harness?.proxy.router.queueDepths().get(MODEL) === 1, 'second job queued');

    const third = await client.seal(MODEL, [worker.hpkePublicKey]);
    const refused = await client.post(third.sealed);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ error: { code: 'queue_full' } });

    await waitFor(() => worker.isHeld(first.sealed.header.jobId), 'first job held');
    worker.release(first.sealed.header.jobId);
    expect((await readEvents(firstResponse)).at(-1)?.type).toBe('receipt');
    const secondStream = await secondResponse;
    expect(secondStream.status).toBe(200);
    await waitFor(() => worker.isHeld(second.sealed.header.jobId), 'second job held');
    worker.release(second.sealed.header.jobId);
    expect((await readEvents(secondStream)).at(-1)?.type).toBe('receipt');
    expect(harness.proxy.router.queueDepths().size).toBe(0);

    // The refused job may be sent again as it is.
    const retried = await client.post(third.sealed);
    expect(retried.status).toBe(200);
    await waitFor(() => worker.isHeld(third.sealed.header.jobId), 'third job held');
    worker.release(third.sealed.header.jobId);
    expect((await readEvents(retried)).at(-1)?.type).toBe('receipt');
  });

  it('fails over to the next candidate when a worker dies before its first chunk', async () => {
    harness = await startHarness(testStore.store);
    const dying = await harness.worker({ behaviour: 'die' });
    const healthy = await harness.worker();
    const client = harness.client();
    const { sealed, jobKey } = await client.seal(MODEL, [dying.hpkePublicKey, healthy.hpkePublicKey], {
      text: 'survives',
    });
    const outcome = await client.run(sealed, jobKey);
    expect(outcome.text).toBe('survives');
    const accepted = outcome.events.filter((event) => event.type === 'accepted');
    expect(accepted.map((event) => event.workerId)).toEqual([dying.workerId, healthy.workerId]);
    expect(dying.received).toEqual([sealed.header.jobId]);
    expect(outcome.events.at(-1)?.type).toBe('receipt');
  });

  it('fails over when a worker refuses the job as busy', async () => {
    harness = await startHarness(testStore.store);
    const busy = await harness.worker({ behaviour: 'busy' });
    const healthy = await harness.worker();
    const client = harness.client();
    const { sealed, jobKey } = await client.seal(MODEL, [busy.hpkePublicKey, healthy.hpkePublicKey]);
    const outcome = await client.run(sealed, jobKey);
    expect(busy.received).toEqual([sealed.header.jobId]);
    expect(healthy.received).toEqual([sealed.header.jobId]);
    expect(outcome.events.at(-1)?.type).toBe('receipt');
  });

  it('ends a job its worker has already run (a replay through another proxy) as a duplicate, with no failover', async () => {
    harness = await startHarness(testStore.store);
    const ranIt = await harness.worker({ behaviour: 'replayed' });
    const other = await harness.worker();
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [ranIt.hpkePublicKey, other.hpkePublicKey]);
    const response = await client.post(sealed);
    expect(response.status).toBe(200);
    const events = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'duplicate_job' });
    expect(ranIt.received).toEqual([sealed.header.jobId]);
    expect(other.received).toEqual([]);
  });

  it('answers 503 queue_timeout to a job still queued at its deadline', async () => {
    harness = await startHarness(testStore.store, { limits: { jobDeadlineMs: 300 } });
    // A worker with no free slot: the job waits in the queue for one.
    const worker = await harness.worker({ capacity: 0 });
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [worker.hpkePublicKey]);
    const queued = await client.post(sealed);
    expect(queued.status).toBe(503);
    expect(queued.headers.get('retry-after')).toBe('5');
    expect(await queued.json()).toMatchObject({ error: { code: 'queue_timeout' } });
    expect(worker.received).toEqual([]);
    expect(harness.proxy.router.queueDepths().size).toBe(0);
  });

  it('dispatches a queued job when its worker reports more capacity', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker({ capacity: 0 });
    const client = harness.client();
    const { sealed, jobKey } = await client.seal(MODEL, [worker.hpkePublicKey]);
    const outcome = client.run(sealed, jobKey);
    await waitFor(() => harness?.proxy.router.queueDepths().get(MODEL) === 1, 'job queued');
    worker.send({ type: 'heartbeat', load: { activeJobs: 0, capacity: 1 } });
    expect((await outcome).events.at(-1)?.type).toBe('receipt');
  });

  it('ends the stream with no_worker when every candidate dies', async () => {
    harness = await startHarness(testStore.store);
    const dying = await harness.worker({ behaviour: 'die' });
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [dying.hpkePublicKey]);
    const events = await readEvents(await client.post(sealed));
    expect(events.map((event) => event.type)).toEqual(['accepted', 'error']);
    expect(events[1]).toMatchObject({ code: 'no_worker' });
    await waitFor(
      async () => (await harness?.credit.available(client.account)) === ALLOWANCE,
      'credit released',
    );
  });

  it('sends cancel to the worker when the client disconnects, and charges only its partial receipt', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker({ behaviour: 'hold' });
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [worker.hpkePublicKey], { maxCost: 5_000n });
    const abort = new AbortController();
    const response = await client.post(sealed, abort.signal);
    expect(response.status).toBe(200);
    expect(await harness.credit.available(client.account)).toBe(ALLOWANCE - 5_000n);
    await waitFor(() => worker.isHeld(sealed.header.jobId), 'job held');
    // A replay of the request is refused and does not cancel the job when its response closes.
    const replay = await client.post(sealed);
    expect(replay.status).toBe(409);
    await replay.text();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(worker.cancelled).toEqual([]);
    abort.abort();
    await waitFor(() => worker.cancelled.includes(sealed.header.jobId), 'cancel at the worker');
    expect(harness.proxy.registry.get(worker.workerId as string)?.inFlight).toBe(0);
    // 'hello from a sealed job' is 6 prompt tokens at 10 nanotons; nothing was completed.
    await waitFor(
      async () => (await harness?.credit.available(client.account)) === ALLOWANCE - 60n,
      'charged',
    );
    expect((await client.get(`/v1/receipts/${sealed.header.jobId}`)).status).toBe(200);
  });

  it('releases all the credit of a job whose worker dies mid-answer without a receipt', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker({ behaviour: 'hold' });
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [worker.hpkePublicKey], { maxCost: 5_000n });
    const response = await client.post(sealed);
    await waitFor(() => worker.isHeld(sealed.header.jobId), 'job held');
    worker.send({
      type: 'chunk',
      chunk: { jobId: sealed.header.jobId, index: 0, final: false, data: 'AAAA' },
    });
    const firstChunks = async () =>
      (await harness?.proxy.metrics.firstChunkLatency.get())?.values.find((v) =>
        v.metricName?.endsWith('_count'),
      )?.value;
    await waitFor(async () => (await firstChunks()) === 1, 'the chunk reached the proxy');
    worker.kill();
    const events = await readEvents(response);
    expect(events.map((event) => event.type)).toEqual(['accepted', 'chunk', 'error']);
    expect(events.at(-1)).toMatchObject({ code: 'bad_gateway' });
    await waitFor(
      async () => (await harness?.credit.available(client.account)) === ALLOWANCE,
      'credit released',
    );
  });

  it('cancels a job past its deadline and tells the client', async () => {
    harness = await startHarness(testStore.store, { limits: { jobDeadlineMs: 300, receiptGraceMs: 100 } });
    const worker = await harness.worker({ behaviour: 'hold' });
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [worker.hpkePublicKey]);
    const events = await readEvents(await client.post(sealed));
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'deadline_exceeded' });
    expect(worker.cancelled).toEqual([sealed.header.jobId]);
  });

  it('routes by the rotated key, and finishes a job in flight under the old one', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker({ behaviour: 'hold' });
    const client = harness.client();
    const oldKey = worker.hpkePublicKey;
    const inFlight = await client.seal(MODEL, [oldKey], { text: 'before rotation' });
    const inFlightResponse = await client.post(inFlight.sealed);
    await waitFor(() => worker.received.length === 1, 'job at the worker');
    await worker.rotate();
    await waitFor(
      () =>
        harness?.proxy.registry.get(worker.workerId as string)?.attestation.hpkePublicKey ===
        worker.hpkePublicKey,
      'rotation applied',
    );
    await waitFor(() => worker.isHeld(inFlight.sealed.header.jobId), 'job held');
    worker.release(inFlight.sealed.header.jobId);
    const events = await readEvents(inFlightResponse);
    expect(events.at(-1)?.type).toBe('receipt');

    const stale = await client.seal(MODEL, [oldKey]);
    const refused = await client.post(stale.sealed);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: 'no_worker' } });

    const fresh = await client.seal(MODEL, [worker.hpkePublicKey]);
    const response = await client.post(fresh.sealed);
    expect(response.status).toBe(200);
    await waitFor(() => worker.isHeld(fresh.sealed.header.jobId), 'fresh job held');
    worker.release(fresh.sealed.header.jobId);
    expect((await readEvents(response)).at(-1)?.type).toBe('receipt');
  });

  it('gives a draining worker no new jobs', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker();
    worker.send({ type: 'draining' });
    await waitFor(
      () => harness?.proxy.registry.get(worker.workerId as string)?.draining === true,
      'draining',
    );
    const client = harness.client();
    expect(await client.workers(MODEL)).toEqual([]);
    const { sealed } = await client.seal(MODEL, [worker.hpkePublicKey]);
    const response = await client.post(sealed);
    expect(response.status).toBe(503);
    expect(worker.received).toEqual([]);
  });

  it('refuses a receipt that is not the attested worker’s or charges beyond maxCost, and drops the worker', async () => {
    harness = await startHarness(testStore.store);
    const impostorKey = generateSigningKeyPair();
    // The worker charges its full usage instead of stopping at the job's maxCost.
    const forger = await harness.worker({
      forgeReceipt: (receipt) => ({
        ...receipt,
        amount: BigInt(receipt.promptTokens + receipt.completionTokens) * receipt.pricePerToken,
      }),
    });
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [forger.hpkePublicKey], { maxTokens: 1, maxCost: 10n });
    const events = await readEvents(await client.post(sealed));
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'bad_gateway' });
    expect((events.at(-1) as { message: string }).message).toMatch(/over_max_cost/);
    await waitFor(() => forger.rejected !== undefined, 'forger dropped');
    expect((await client.get(`/v1/receipts/${sealed.header.jobId}`)).status).toBe(404);
    await waitFor(
      async () => (await harness?.credit.available(client.account)) === ALLOWANCE,
      'nothing charged',
    );

    const impostor = await harness.worker({
      forgeReceipt: (receipt) => ({ ...receipt, worker: toHex(impostorKey.publicKey) }),
    });
    const second = await client.seal(MODEL, [impostor.hpkePublicKey]);
    const secondEvents = await readEvents(await client.post(second.sealed));
    expect((secondEvents.at(-1) as { message: string }).message).toMatch(/wrong_worker/);
  });
});

describe('admission', () => {
  it('refuses bad signatures, foreign jobs, expired jobs and malformed bodies with JSON errors', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker();
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [worker.hpkePublicKey]);

    const forged = await fetch(`${harness.proxy.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'x-cocoon-client': client.account, 'x-cocoon-time': '1', 'x-cocoon-signature': 'AAAA' },
      body: '{}',
    });
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ error: { code: 'unauthorized' } });

    const foreign = await client.post(sealed, undefined, generateSigningKeyPair());
    expect(foreign.status).toBe(403);

    const expired = await client.seal(MODEL, [worker.hpkePublicKey], { expiresIn: -5 });
    expect((await client.post(expired.sealed)).status).toBe(400);

    const notJob = await fetch(`${harness.proxy.url}/v1/nothing`);
    expect(notJob.status).toBe(404);
    expect(await notJob.json()).toMatchObject({ error: { code: 'not_found' } });
    expect(worker.received).toEqual([]);
  });

  it('refuses a job beyond the client’s credit with 402', async () => {
    harness = await startHarness(testStore.store, { credit: new MemoryCredit(fixedAllowance(999n)) });
    const worker = await harness.worker();
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [worker.hpkePublicKey], { maxCost: 1_000n });
    const response = await client.post(sealed);
    expect(response.status).toBe(402);
    expect(await response.json()).toMatchObject({ error: { code: 'insufficient_credit' } });
  });

  it('refuses a worker whose price exceeds what the job may cost', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker({ models: [{ model: MODEL, pricePerToken: 100n }] });
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [worker.hpkePublicKey], { maxTokens: 100, maxCost: 9_999n });
    expect((await client.post(sealed)).status).toBe(503);
  });

  it('limits jobs per client at once and per second', async () => {
    harness = await startHarness(testStore.store, {
      limits: { maxJobsPerClient: 1, clientRatePerSecond: 0.5, clientBurst: 2 },
    });
    const worker = await harness.worker({ behaviour: 'hold' });
    const client = harness.client();
    const first = await client.seal(MODEL, [worker.hpkePublicKey]);
    const firstResponse = await client.post(first.sealed);
    const second = await client.seal(MODEL, [worker.hpkePublicKey]);
    const concurrent = await client.post(second.sealed);
    expect(concurrent.status).toBe(429);
    expect(await concurrent.json()).toMatchObject({ error: { code: 'too_many_jobs' } });

    await waitFor(() => worker.isHeld(first.sealed.header.jobId), 'first job held');
    worker.release(first.sealed.header.jobId);
    await readEvents(firstResponse);
    const third = await client.seal(MODEL, [worker.hpkePublicKey]);
    const limited = await client.post(third.sealed);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(await limited.json()).toMatchObject({ error: { code: 'rate_limited' } });
  });

  it('serves /healthz and Prometheus /metrics', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker();
    const client = harness.client();
    const { sealed, jobKey } = await client.seal(MODEL, [worker.hpkePublicKey]);
    await client.run(sealed, jobKey);
    const health = await fetch(`${harness.proxy.url}/healthz`);
    expect(await health.json()).toMatchObject({ status: 'ok', workers: 1 });
    const metrics = await (await fetch(`${harness.proxy.url}/metrics`)).text();
    expect(metrics).toMatch(/cocoon_proxy_jobs_total\{outcome="completed",code=""\} 1/);
    expect(metrics).toMatch(/cocoon_proxy_workers\{state="serving"\} 1/);
    expect(metrics).toMatch(/cocoon_proxy_receipts_total\{result="recorded"\} 1/);
    expect(metrics).toMatch(/cocoon_proxy_dispatch_seconds_count 1/);
    expect(metrics).toMatch(/cocoon_proxy_queue_depth/);
  });

  it("counts the latency it adds to a job apart from the worker's turn", async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker({ behaviour: 'hold' });
    const client = harness.client();
    const { sealed, jobKey } = await client.seal(MODEL, [worker.hpkePublicKey]);
    const running = client.run(sealed, jobKey);
    await waitFor(() => worker.isHeld(sealed.header.jobId), 'job held');
    const heldMs = 500;
    await new Promise((resolve) => setTimeout(resolve, heldMs));
    worker.release(sealed.header.jobId);
    await running;
    const metrics = await (await fetch(`${harness.proxy.url}/metrics`)).text();
    const sum = (name: string) => Number(new RegExp(`^${name}_sum (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(metrics).toMatch(/^cocoon_proxy_added_seconds_count 1$/m);
    expect(sum('cocoon_proxy_job_duration_seconds')).toBeGreaterThanOrEqual(heldMs / 1000);
    // The worker held the job for heldMs; what is left is the proxy's own handling.
    expect(sum('cocoon_proxy_added_seconds')).toBeGreaterThan(0);
    expect(sum('cocoon_proxy_added_seconds')).toBeLessThan(heldMs / 1000 / 2);
  });
});
