import { SealedJob, signRequest, utf8 } from '@cocoon/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefusalReason } from '../src/errors.js';
import { type Harness, MODEL, openTestStore, startHarness } from './support/harness.js';
import type { TestClient } from './support/test-client.js';
import type { TestWorker } from './support/test-worker.js';
import { waitFor } from './support/wait.js';

/** Every refusal is counted in /metrics by reason (voucher refusals: test/settlement/settlement.test.ts). */
let testStore: Awaited<ReturnType<typeof openTestStore>>;
let harness: Harness;
let echo: TestWorker;

const BURST = 3;
const MAX_TOKENS = 1_000;

beforeAll(async () => {
  testStore = await openTestStore();
  harness = await startHarness(testStore.store, {
    limits: {
      clientBurst: BURST,
      clientRatePerSecond: 0.001,
      maxBodyBytes: 4096,
      maxTokensPerJob: MAX_TOKENS,
      maxQueuePerModel: 0,
    },
  });
  echo = await harness.worker();
});
afterAll(async () => {
  await harness?.close();
  await testStore?.remove();
});

/** The refusal counters as /metrics shows them. */
async function refusals(): Promise<Map<string, number>> {
  const text = await (await fetch(`${harness.proxy.url}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const [, reason, value] of text.matchAll(/^cocoon_proxy_refusals_total\{reason="(\w+)"\} (\d+)$/gm)) {
    counts.set(reason as string, Number(value));
  }
  return counts;
}

/** Runs `refuse`, expects its HTTP status, and that it counted once under `reason` and nothing else. */
async function expectCounted(reason: RefusalReason, status: number, refuse: () => Promise<Response>) {
  const before = await refusals();
  const response = await refuse();
  expect(response.status).toBe(status);
  await response.body?.cancel();
  const after = await refusals();
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const expected = (before.get(key) ?? 0) + (key === reason ? 1 : 0);
    expect({ reason: key, count: after.get(key) ?? 0 }).toEqual({ reason: key, count: expected });
  }
}

/** Posts a job signed as `client` over other bytes than the ones sent, or at another time. */
function postSignedAs(
  client: TestClient,
  sealed: SealedJob,
  options: { tamper?: boolean; skewSeconds?: number },
) {
  const body = utf8(JSON.stringify(SealedJob.encode(sealed)));
  const signedBody = options.tamper ? utf8(`${JSON.stringify(SealedJob.encode(sealed))} `) : body;
  const headers = signRequest(
    { method: 'POST', path: '/v1/jobs', body: signedBody },
    client.keys.secretKey,
    Math.floor(Date.now() / 1000) + (options.skewSeconds ?? 0),
  );
  return fetch(`${harness.proxy.url}/v1/jobs`, { method: 'POST', headers, body });
}

describe('refusal counters', () => {
  it('counts a request whose signature does not verify as bad_signature', async () => {
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [echo.hpkePublicKey]);
    await expectCounted('bad_signature', 401, () => postSignedAs(client, sealed, { tamper: true }));
    expect(echo.received).not.toContain(sealed.header.jobId);
  });

  it('counts a signed request outside the time window as stale_request', async () => {
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [echo.hpkePublicKey]);
    await expectCounted('stale_request', 401, () => postSignedAs(client, sealed, { skewSeconds: -600 }));
  });

  it('counts a job sent again as replayed', async () => {
    const client = harness.client();
    const { sealed, jobKey } = await client.seal(MODEL, [echo.hpkePublicKey]);
    expect((await client.run(sealed, jobKey)).receipt).toBeDefined();
    await expectCounted('replayed', 409, () => client.post(sealed));
  });

  it('counts a client past its rate as rate_limited', async () => {
    const client = harness.client();
    for (let i = 0; i < BURST; i++) {
      const { sealed, jobKey } = await client.seal(MODEL, [echo.hpkePublicKey]);
      expect((await client.run(sealed, jobKey)).status).toBe(200);
    }
    const { sealed } = await client.seal(MODEL, [echo.hpkePublicKey]);
    await expectCounted('rate_limited', 429, () => client.post(sealed));
  });

  it('counts a body above the limit as too_large', async () => {
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [echo.hpkePublicKey], { text: 'x'.repeat(8192) });
    await expectCounted('too_large', 413, () => client.post(sealed));
  });

  it('counts a job asking more tokens than the limit as too_many_tokens', async () => {
    const client = harness.client();
    const { sealed } = await client.seal(MODEL, [echo.hpkePublicKey], { maxTokens: MAX_TOKENS + 1 });
    await expectCounted('too_many_tokens', 400, () => client.post(sealed));
    expect(echo.received).not.toContain(sealed.header.jobId);
  });

  it('counts a job with no room in its queue as queue_full', async () => {
    const busy = await harness.worker({ behaviour: 'hold', capacity: 1 });
    const client = harness.client();
    const first = await client.seal(MODEL, [busy.hpkePublicKey]);
    const held = await client.post(first.sealed);
    await waitFor(() => busy.isHeld(first.sealed.header.jobId), 'first job held');
    const { sealed } = await client.seal(MODEL, [busy.hpkePublicKey]);
    await expectCounted('queue_full', 429, () => client.post(sealed));
    busy.release(first.sealed.header.jobId);
    await held.text();
  });
});
