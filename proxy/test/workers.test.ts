import {
  type AttestationPolicy,
  generateSigningKeyPair,
  ManualClock,
  ModelsResponse,
  toHex,
  verifyOffers,
  WorkersResponse,
} from '@cocoon/shared';
import { Address } from '@ton/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PolicySource } from '../src/policy.js';
import {
  devPolicy,
  type Harness,
  MODEL,
  OTHER_MODEL,
  openTestStore,
  startHarness,
} from './support/harness.js';
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

class SwitchablePolicySource implements PolicySource {
  failing = false;
  constructor(public policy: AttestationPolicy) {}
  async read(): Promise<AttestationPolicy> {
    if (this.failing) throw new Error('Root contract unreachable');
    return this.policy;
  }
}

describe('worker admission', () => {
  it('admits a dev worker under allowDev and lists it with its bundle and models', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker({ models: [{ model: MODEL, pricePerToken: 7n }], capacity: 3 });
    expect(worker.rejected).toBeUndefined();
    expect(worker.workerId).toMatch(/^w-[0-9a-f]{16}$/);

    const client = harness.client();
    const [listed, ...rest] = await client.workers(MODEL);
    expect(rest).toEqual([]);
    expect(listed?.workerId).toBe(worker.workerId);
    expect(listed?.bundle).toEqual(worker.bundle);
    expect(listed?.models[0]?.pricePerToken).toBe(7n);
    expect(listed?.load).toEqual({ activeJobs: 0, capacity: 3 });
    expect(await client.workers(OTHER_MODEL)).toEqual([]);

    const models = ModelsResponse.parse(await (await fetch(`${harness.proxy.url}/v1/models`)).json()).models;
    expect(models).toEqual([{ model: MODEL, name: 'test-model-0', workers: 1, minPricePerToken: 7n }]);
  });

  it('refuses a dev bundle when the policy does not allow dev', async () => {
    harness = await startHarness(testStore.store, {
      policySource: new (class {
        async read() {
          return devPolicy({ allowDev: false });
        }
      })(),
    });
    const worker = await harness.worker();
    expect(worker.workerId).toBeUndefined();
    expect(worker.rejected).toMatch(/dev_not_allowed/);
    expect(await harness.client().workers(MODEL)).toEqual([]);
  });

  it('refuses a tampered bundle, an unlisted model, an offer outside the bundle and an expired bundle', async () => {
    harness = await startHarness(testStore.store);
    const tampered = await harness.worker({
      tamper: (bundle) => ({ ...bundle, notAfter: (bundle.notAfter as number) + 1 }),
    });
    expect(tampered.rejected).toMatch(/signature_invalid/);

    const unlisted = await harness.worker({ models: [{ model: 'ab'.repeat(32), pricePerToken: 1n }] });
    expect(unlisted.rejected).toMatch(/model_not_allowed/);

    // An offer for a model the bundle does not bind is refused even though the policy lists the model.
    const offersMore = await harness.worker({
      attestedModels: [MODEL],
      models: [
        { model: MODEL, pricePerToken: 1n },
        { model: OTHER_MODEL, pricePerToken: 1n },
      ],
    });
    expect(offersMore.rejected).toMatch(/offered but not in the attestation/);

    const expired = await harness.worker({ validForSeconds: -10 });
    expect(expired.rejected).toMatch(/bundle_expired/);

    const unpayable = await harness.worker({ payoutAddress: 'my wallet' });
    expect(unpayable.rejected).toMatch(/bad_payout_address|not a TON address/);

    const admitted = await harness.worker();
    expect(admitted.workerId).toBeDefined();
    const metrics = await (await fetch(`${harness.proxy.url}/metrics`)).text();
    expect(metrics).toMatch(/cocoon_proxy_worker_admissions_total\{result="refused"\} 5$/m);
    expect(metrics).toMatch(/cocoon_proxy_worker_admissions_total\{result="admitted"\} 1$/m);
  });

  it('totals earnings per wallet whatever spelling of its address the worker sends', async () => {
    harness = await startHarness(testStore.store);
    const raw = `0:${'ab'.repeat(32)}`;
    const friendly = Address.parse(raw).toString({ bounceable: true });
    const worker = await harness.worker({ payoutAddress: friendly });
    expect(worker.rejected).toBeUndefined();
    expect(harness.proxy.registry.all().map((w) => w.payoutAddress)).toContain(raw);
  });

  it('refuses workers and jobs when the policy could not be refreshed for too long, and recovers', async () => {
    const clock = new ManualClock(Date.now());
    const source = new SwitchablePolicySource(devPolicy());
    harness = await startHarness(testStore.store, {
      policySource: source,
      clock,
      limits: { policyMaxAgeMs: 60_000, policyRefreshMs: 3_600_000, heartbeatTimeoutMs: 3_600_000 },
    });
    expect((await fetch(`${harness.proxy.url}/healthz`)).status).toBe(200);
    source.failing = true;
    await expect(harness.proxy.policy.refresh()).rejects.toThrow(/unreachable/);
    clock.advance(61_000);

    const refused = await harness.worker();
    expect(refused.rejected).toMatch(/policy is 61s old/);
    const health = await fetch(`${harness.proxy.url}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'policy_stale' });

    source.failing = false;
    await harness.proxy.policy.refresh();
    const admitted = await harness.worker();
    expect(admitted.workerId).toBeDefined();
  });

  it('drops admitted workers that a refreshed policy no longer allows', async () => {
    const source = new SwitchablePolicySource(devPolicy());
    harness = await startHarness(testStore.store, { policySource: source });
    const worker = await harness.worker();
    expect(worker.workerId).toBeDefined();
    source.policy = devPolicy({ models: [OTHER_MODEL] });
    await harness.proxy.policy.refresh();
    await waitFor(() => worker.rejected !== undefined, 'rejection after policy change');
    expect(worker.rejected).toMatch(/model_not_allowed/);
    expect(harness.proxy.registry.all()).toEqual([]);
  });

  it('verifies a rotated bundle again and drops a worker whose new bundle fails', async () => {
    harness = await startHarness(testStore.store);
    const worker = await harness.worker();
    await worker.rotate((bundle) => ({ ...bundle, signPublicKey: 'ab'.repeat(32) }));
    await waitFor(() => worker.rejected !== undefined, 'rejection after rotation');
    expect(worker.rejected).toMatch(/signature_invalid/);
    expect(harness.proxy.registry.all()).toEqual([]);
  });

  it('refuses a payout address or offers not signed by the attested key, in a hello and in a rotation', async () => {
    const started = await startHarness(testStore.store);
    harness = started;
    const redirected = await started.worker({ payoutSigner: generateSigningKeyPair() });
    expect(redirected.rejected).toMatch(/payout address is not signed by the attested signing key/);
    const repriced = await started.worker({ offersSigner: generateSigningKeyPair() });
    expect(repriced.rejected).toMatch(/model offers are not signed by the attested signing key/);

    for (const signers of [{ payout: generateSigningKeyPair() }, { offers: generateSigningKeyPair() }]) {
      const worker = await started.worker();
      expect(worker.workerId).toBeDefined();
      await worker.rotate(undefined, signers);
      await waitFor(() => worker.rejected !== undefined, 'rejection after rotation');
      expect(worker.rejected).toMatch(/not signed by the attested signing key/);
      expect(started.proxy.registry.all()).toEqual([]);
    }

    // A rotation signed with the new attested key keeps the worker, and its listing carries the new signature.
    const rotating = await started.worker();
    await rotating.rotate();
    await waitFor(
      () => started.proxy.registry.all()[0]?.attestation.signPublicKey === toHex(rotating.sign.publicKey),
      'rotation accepted',
    );
    expect(rotating.rejected).toBeUndefined();
    const { workers } = WorkersResponse.parse(await (await fetch(`${started.proxy.url}/v1/workers`)).json());
    expect(workers).toHaveLength(1);
    const [listed] = workers;
    expect(
      verifyOffers(listed?.models ?? [], listed?.offersSignature ?? '', toHex(rotating.sign.publicKey)),
    ).toBe(true);
  });

  it('drops a worker whose heartbeats stop, keeps one that sends them', async () => {
    harness = await startHarness(testStore.store, { limits: { heartbeatTimeoutMs: 400 } });
    const beating = await harness.worker({ heartbeatMs: 100 });
    const silent = await harness.worker();
    await waitFor(() => silent.rejected !== undefined, 'silent worker dropped', 3_000);
    expect(silent.rejected).toMatch(/no heartbeat/);
    expect(harness.proxy.registry.all().map((worker) => worker.id)).toEqual([beating.workerId]);
  });

  it('closes a connection that never says hello', async () => {
    harness = await startHarness(testStore.store, { limits: { helloTimeoutMs: 200 } });
    const { default: WebSocket } = await import('ws');
    const socket = new WebSocket(harness.workerUrl);
    const closed = await new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    expect(closed).toBe(1008);
  });
});
