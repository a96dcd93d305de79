import { DevAttestor } from '@cocoon/shared/attestation/dev';
import { imageHash } from '@cocoon/shared/attestation/quote';
import { randomBytes, sha256, toBase64, toHex, utf8 } from '@cocoon/shared/bytes';
import type { HistoryJob } from '@cocoon/shared/protocol/app-api';
import type { ModelOffer } from '@cocoon/shared/protocol/messages';
import { signOffers } from '@cocoon/shared/protocol/worker-statements';
import { type Receipt, receiptToCell, signReceipt } from '@cocoon/shared/receipt';
import { generateSigningKeyPair } from '@cocoon/shared/signing';
import { describe, expect, it } from 'vitest';
import {
  fixtureBytes,
  fixtureCollateral,
  TDX_BUNDLE_MODEL,
  TDX_QUOTE_MEASUREMENTS,
  TDX_QUOTE_VALID_AT,
  tdxBundle,
} from '../../shared/test/attestation/fixtures.js';
import { verifyJob, verifyWorker } from '../src/verify.js';

const NOW = 1_790_000_000;
const MODEL = toHex(sha256(utf8('model')));
const POLICY = {
  allowDev: true,
  imageHashes: [],
  models: [MODEL],
  acceptedTcbStatuses: ['UpToDate' as const],
};
const hex32 = () => toHex(randomBytes(32));

async function fixture() {
  const workerKey = generateSigningKeyPair();
  const bundle = await new DevAttestor().attest({
    hpkePublicKey: hex32(),
    signPublicKey: toHex(workerKey.publicKey),
    models: [MODEL],
    notAfter: NOW + 3600,
  });
  const receipt: Receipt = {
    jobId: toHex(randomBytes(16)),
    client: hex32(),
    model: MODEL,
    promptTokens: 100,
    completionTokens: 20,
    pricePerToken: 1000n,
    amount: 120_000n,
    requestHash: hex32(),
    responseHash: hex32(),
    worker: toHex(workerKey.publicKey),
    time: NOW - 60,
  };
  const job: HistoryJob = {
    jobId: receipt.jobId,
    createdAt: receipt.time,
    source: { kind: 'text' },
    promptTokens: 100,
    completionTokens: 20,
    cost: 120_000n,
    paidWith: 'ton',
    workerId: 'w1',
    receipt: signReceipt(receipt, workerKey.secretKey),
    attestation: bundle,
  };
  return { workerKey, bundle, receipt, job };
}

describe('verifyJob', () => {
  it('accepts a receipt signed by the attested worker key', async () => {
    const { job } = await fixture();
    const verdict = await verifyJob(job, POLICY);
    expect(verdict.ok).toBe(true);
    if (verdict.ok) {
      expect(verdict.value.receipt.amount).toBe(120_000n);
      expect(verdict.value.attestation.secure).toBe(false);
    }
  });

  it('checks the attestation at the receipt time: a receipt after the keys expired is refused', async () => {
    const { job, receipt, workerKey } = await fixture();
    const late = { ...receipt, time: NOW + 7200 };
    const verdict = await verifyJob({ ...job, receipt: signReceipt(late, workerKey.secretKey) }, POLICY);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toMatch(/^worker attestation: bundle expired/);
  });

  it('refuses a tampered receipt', async () => {
    const { job, receipt } = await fixture();
    const tampered = {
      ...job,
      receipt: { ...job.receipt, boc: toBase64(receiptToCell({ ...receipt, amount: 1n }).toBoc()) },
    };
    expect(await verifyJob({ ...tampered, cost: 1n }, POLICY)).toEqual({
      ok: false,
      reason: 'receipt signature does not verify',
    });
  });

  it('refuses a history row that disagrees with its receipt', async () => {
    const { job } = await fixture();
    const verdict = await verifyJob({ ...job, cost: 99n, promptTokens: 1 }, POLICY);
    expect(verdict).toEqual({
      ok: false,
      reason: 'the receipt disagrees with the history on cost, prompt tokens',
    });
  });

  it('refuses a receipt signed by a key the attestation does not bind', async () => {
    const { job, receipt } = await fixture();
    const other = generateSigningKeyPair();
    const signed = signReceipt({ ...receipt, worker: toHex(other.publicKey) }, other.secretKey);
    const verdict = await verifyJob({ ...job, receipt: signed }, POLICY);
    expect(verdict).toEqual({
      ok: false,
      reason: 'the receipt is signed by a key the worker attestation does not bind',
    });
  });

  it('refuses when the policy refuses the worker', async () => {
    const { job } = await fixture();
    const verdict = await verifyJob(job, { ...POLICY, allowDev: false });
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toMatch(/^worker attestation: dev bundles/);
  });
});

describe('verifyWorker', () => {
  const OFFER: ModelOffer = {
    model: MODEL,
    name: 'tiny',
    pricePerToken: 1000n,
    priceCoefficient: 10_000,
    promptMultiplier: 10_000,
    completionMultiplier: 10_000,
    contextSize: 4096,
  };
  /** A listing of `bundle` with one offer, signed by `signer` (the worker's attested key, or not). */
  const listing = (bundle: unknown, signer = generateSigningKeyPair(), listed = OFFER) => ({
    workerId: 'w1',
    bundle,
    models: [listed],
    offersSignature: signOffers([OFFER], signer.secretKey),
    load: { activeJobs: 0, capacity: 1 },
  });

  it('verifies a dev worker as insecure', async () => {
    const { bundle, workerKey } = await fixture();
    const check = await verifyWorker(listing(bundle, workerKey), POLICY, NOW);
    expect(check.kind).toBe('dev');
    expect(check.verdict.ok && check.verdict.value.secure).toBe(false);
    expect(check.verdict.ok).toBe(true);
  });

  it('refuses offers the attested key did not sign, as listed', async () => {
    const { bundle, workerKey } = await fixture();
    const repriced = await verifyWorker(
      listing(bundle, workerKey, { ...OFFER, pricePerToken: 1n }),
      POLICY,
      NOW,
    );
    expect(repriced.verdict).toEqual({
      ok: false,
      reason: 'its model offers are not signed by its attested key',
    });
    const otherSigner = await verifyWorker(listing(bundle), POLICY, NOW);
    expect(otherSigner.verdict.ok).toBe(false);
  });

  it('judges a TDX worker by the collateral the app fetched when there is one, else by its own', async () => {
    // The real Intel quote around our keys: every hardware check can pass, the REPORTDATA binding cannot.
    const policy = {
      ...POLICY,
      allowDev: false,
      imageHashes: [imageHash(TDX_QUOTE_MEASUREMENTS)],
      models: [TDX_BUNDLE_MODEL],
    };
    const at = TDX_QUOTE_VALID_AT.getTime() / 1000;
    const stripped = tdxBundle({ evidence: { quote: toBase64(fixtureBytes('tdx_quote')) } });
    const own = await verifyWorker(listing(stripped), policy, at);
    expect(own).toMatchObject({ kind: 'tdx', collateral: 'bundle', verdict: { ok: false } });
    expect(!own.verdict.ok && own.verdict.reason).toMatch(/no DCAP collateral/);

    const fetched = await verifyWorker(
      listing(stripped),
      policy,
      at,
      fixtureCollateral('tdx_quote_collateral.json'),
    );
    expect(fetched).toMatchObject({ kind: 'tdx', collateral: 'app', verdict: { ok: false } });
    expect(!fetched.verdict.ok && fetched.verdict.reason).toMatch(/REPORTDATA does not bind/);
    // Another platform's collateral, given by the app, wins over the bundle's own good one.
    const overruled = await verifyWorker(
      listing(tdxBundle()),
      policy,
      at,
      fixtureCollateral('tdx_quote_outdated_collateral.json'),
    );
    expect(!overruled.verdict.ok && overruled.verdict.reason).not.toMatch(/REPORTDATA/);
  });

  it('names the kind of a bundle it refuses', async () => {
    const { bundle } = await fixture();
    const expired = await verifyWorker(listing(bundle), POLICY, NOW + 7200);
    expect(expired).toMatchObject({ kind: 'dev', verdict: { ok: false } });
    const garbage = await verifyWorker(listing({ kind: 'sgx' }), POLICY, NOW);
    expect(garbage).toMatchObject({ kind: 'unknown', verdict: { ok: false } });
  });
});
