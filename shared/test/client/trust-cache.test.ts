import { describe, expect, it } from 'vitest';
import { DevAttestor } from '../../src/attestation/dev.js';
import { toHex } from '../../src/bytes.js';
import { TrustCache } from '../../src/client/trust-cache.js';
import { ManualClock } from '../../src/clock.js';
import type { ModelOffer } from '../../src/protocol/messages.js';
import { signOffers } from '../../src/protocol/worker-statements.js';
import { generateSigningKeyPair } from '../../src/signing.js';

const NOW_MS = 1_800_000_000_000;
const TTL_MS = 30_000;
const MODEL = '0c'.repeat(32);
const devPolicy = { allowDev: true, imageHashes: [], models: [MODEL] };
const bundleUntil = (notAfter: number) =>
  new DevAttestor().attest({
    hpkePublicKey: '5e'.repeat(32),
    signPublicKey: '6f'.repeat(32),
    models: [MODEL],
    notAfter,
  });

function cacheWith(policies: (typeof devPolicy)[]) {
  const clock = new ManualClock(NOW_MS);
  const reads: number[] = [];
  const cache = new TrustCache(
    async () => {
      reads.push(clock.now());
      const policy = policies[Math.min(reads.length, policies.length) - 1];
      if (policy === undefined) throw new Error('the Root cannot be read');
      return policy;
    },
    TTL_MS,
    clock,
  );
  return { clock, reads, cache };
}

describe('TrustCache', () => {
  it('reads the policy once per TTL, and a policy change applies after it', async () => {
    const { clock, reads, cache } = cacheWith([devPolicy, { ...devPolicy, allowDev: false }]);
    const bundle = await bundleUntil(NOW_MS / 1000 + 3600);
    for (let i = 0; i < 3; i++) await expect(cache.verify(bundle)).resolves.toMatchObject({ kind: 'dev' });
    expect(reads).toHaveLength(1);
    clock.advance(TTL_MS);
    await expect(cache.verify(bundle)).rejects.toMatchObject({ code: 'dev_not_allowed' });
    expect(reads).toHaveLength(2);
  });

  it('does not reuse a verdict past the bundle’s own expiry', async () => {
    const { clock, cache } = cacheWith([devPolicy]);
    const bundle = await bundleUntil(NOW_MS / 1000 + 10);
    await expect(cache.verify(bundle)).resolves.toMatchObject({ kind: 'dev' });
    clock.advance(11_000);
    await expect(cache.verify(bundle)).rejects.toMatchObject({ code: 'bundle_expired' });
  });

  it('keeps no verdict for a changed bundle, and no failed policy read', async () => {
    const { reads, cache } = cacheWith([]);
    const bundle = await bundleUntil(NOW_MS / 1000 + 3600);
    await expect(cache.verify(bundle)).rejects.toThrow('the Root cannot be read');
    await expect(cache.verify(bundle)).rejects.toThrow('the Root cannot be read');
    expect(reads).toHaveLength(2);

    const good = cacheWith([devPolicy]).cache;
    await good.verify(bundle);
    const forged = { ...bundle, hpkePublicKey: '77'.repeat(32) };
    await expect(good.verify(forged)).rejects.toMatchObject({ code: 'signature_invalid' });
  });

  it('keeps offer signature verdicts for exactly the offers, signature and key it checked', async () => {
    const { cache } = cacheWith([devPolicy]);
    const worker = generateSigningKeyPair();
    const key = toHex(worker.publicKey);
    const offer: ModelOffer = {
      model: MODEL,
      name: 'tiny',
      pricePerToken: 20n,
      priceCoefficient: 10_000,
      promptMultiplier: 10_000,
      completionMultiplier: 10_000,
      contextSize: 512,
    };
    const signature = signOffers([offer], worker.secretKey);
    for (let i = 0; i < 2; i++) expect(cache.offersSigned([offer], signature, key)).toBe(true);
    expect(cache.offersSigned([{ ...offer, pricePerToken: 19n }], signature, key)).toBe(false);
    expect(cache.offersSigned([offer], signature, toHex(generateSigningKeyPair().publicKey))).toBe(false);
    expect(cache.offersSigned([offer], signOffers([offer], generateSigningKeyPair().secretKey), key)).toBe(
      false,
    );
    expect(cache.offersSigned([offer], signature, key)).toBe(true);
  });
});
