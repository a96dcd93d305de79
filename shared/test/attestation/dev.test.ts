import { describe, expect, it } from 'vitest';
import type { AttestationBundle } from '../../src/attestation/bundle.js';
import { DevAttestor } from '../../src/attestation/dev.js';
import type { AttestationErrorCode } from '../../src/attestation/errors.js';
import { verifyAttestation } from '../../src/attestation/verify.js';
import { fromBase64, toBase64 } from '../../src/bytes.js';

const NOW = 1_800_000_000;
const MODEL_A = '0c'.repeat(32);
const MODEL_B = 'd0'.repeat(32);
const claims = {
  hpkePublicKey: '5e'.repeat(32),
  signPublicKey: '6f'.repeat(32),
  models: [MODEL_A, MODEL_B],
  notAfter: NOW + 3600,
};
const devPolicy = { allowDev: true, imageHashes: [], models: [MODEL_A, MODEL_B] };
const rejection = (code: AttestationErrorCode) => expect.objectContaining({ name: 'AttestationError', code });

describe('DevAttestor and verifyAttestation of dev bundles', () => {
  it('makes a dev bundle that a policy with allowDev accepts, marked insecure', async () => {
    const attestor = new DevAttestor();
    const bundle = await attestor.attest(claims);
    expect(bundle).toMatchObject({ v: 1, kind: 'dev', ...claims });
    expect(bundle.kind === 'dev' && bundle.evidence.devPublicKey).toBe(attestor.devPublicKey);
    await expect(verifyAttestation(bundle, devPolicy, NOW)).resolves.toEqual({
      kind: 'dev',
      secure: false,
      ...claims,
    });
  });

  it('is refused by a policy without allowDev', async () => {
    const bundle = await new DevAttestor().attest(claims);
    await expect(verifyAttestation(bundle, { ...devPolicy, allowDev: false }, NOW)).rejects.toThrow(
      rejection('dev_not_allowed'),
    );
  });

  it('refuses a tampered bundle: any claim, the signature, or a swapped dev key', async () => {
    const bundle = await new DevAttestor().attest(claims);
    if (bundle.kind !== 'dev') throw new Error('expected a dev bundle');
    const signature = fromBase64(bundle.evidence.signature);
    signature[5] = (signature[5] as number) ^ 1;
    const tampered: AttestationBundle[] = [
      { ...bundle, hpkePublicKey: '5f'.repeat(32) },
      { ...bundle, signPublicKey: '70'.repeat(32) },
      { ...bundle, models: [MODEL_A] },
      { ...bundle, notAfter: bundle.notAfter + 1 },
      { ...bundle, evidence: { ...bundle.evidence, signature: toBase64(signature) } },
      { ...bundle, evidence: { ...bundle.evidence, devPublicKey: new DevAttestor().devPublicKey } },
    ];
    for (const forged of tampered) {
      await expect(verifyAttestation(forged, devPolicy, NOW)).rejects.toThrow(rejection('signature_invalid'));
    }
  });

  it('refuses models outside the policy', async () => {
    const bundle = await new DevAttestor().attest(claims);
    await expect(verifyAttestation(bundle, { ...devPolicy, models: [MODEL_A] }, NOW)).rejects.toThrow(
      expect.objectContaining({ code: 'model_not_allowed', message: expect.stringContaining(MODEL_B) }),
    );
  });

  it('refuses a bundle past its notAfter, and accepts it up to that second', async () => {
    const bundle = await new DevAttestor().attest(claims);
    await expect(verifyAttestation(bundle, devPolicy, claims.notAfter)).resolves.toMatchObject({
      kind: 'dev',
    });
    await expect(
      verifyAttestation(bundle, devPolicy, new Date((claims.notAfter + 1) * 1000)),
    ).rejects.toThrow(rejection('bundle_expired'));
  });

  it('signs deterministically from a seed, and refuses claims that are not canonical', async () => {
    const seed = new Uint8Array(32).fill(7);
    const [a, b] = await Promise.all([
      new DevAttestor(seed).attest(claims),
      new DevAttestor(seed).attest(claims),
    ]);
    expect(a).toEqual(b);
    await expect(new DevAttestor().attest({ ...claims, models: [MODEL_B, MODEL_A] })).rejects.toThrow(
      rejection('malformed'),
    );
  });
});
