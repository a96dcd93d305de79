import { Address } from '@ton/core';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex } from '../../src/bytes.js';
import type { ModelOffer } from '../../src/protocol/messages.js';
import {
  signOffers,
  signPayoutAddress,
  verifyOffers,
  verifyPayoutAddress,
} from '../../src/protocol/worker-statements.js';
import { generateSigningKeyPair } from '../../src/signing.js';

const attested = generateSigningKeyPair();
const attestedKey = toHex(attested.publicKey);
const otherKey = toHex(generateSigningKeyPair().publicKey);
const raw = `0:${'5a'.repeat(32)}`;

/** A signature with one bit changed. */
function flipped(signature: string): string {
  const bytes = fromBase64(signature);
  bytes[10] = (bytes[10] as number) ^ 1;
  return toBase64(bytes);
}

describe('payout address signatures', () => {
  it('verify for every spelling of the signed wallet, with the attested key only', () => {
    const signature = signPayoutAddress(raw, attested.secretKey);
    const bounceable = Address.parse(raw).toString({ bounceable: true });
    const testOnly = Address.parse(raw).toString({ bounceable: false, testOnly: true });
    for (const spelling of [raw, bounceable, testOnly]) {
      expect(verifyPayoutAddress(spelling, signature, attestedKey)).toBe(true);
    }
    expect(signPayoutAddress(bounceable, attested.secretKey)).toBe(signature);
    expect(verifyPayoutAddress(raw, signature, otherKey)).toBe(false);
  });

  it('refuse another wallet, a changed signature and an address that is not a TON address', () => {
    const signature = signPayoutAddress(raw, attested.secretKey);
    expect(verifyPayoutAddress(`0:${'5b'.repeat(32)}`, signature, attestedKey)).toBe(false);
    expect(verifyPayoutAddress(`-1:${'5a'.repeat(32)}`, signature, attestedKey)).toBe(false);
    expect(verifyPayoutAddress(raw, flipped(signature), attestedKey)).toBe(false);
    expect(verifyPayoutAddress('my wallet', signature, attestedKey)).toBe(false);
    expect(() => signPayoutAddress('my wallet', attested.secretKey)).toThrow();
  });
});

describe('offer signatures', () => {
  const offer = (model: string, pricePerToken: bigint): ModelOffer => ({
    model: model.repeat(64),
    name: `model ${model}`,
    pricePerToken,
    priceCoefficient: 10_000,
    promptMultiplier: 10_000,
    completionMultiplier: 20_000,
    contextSize: 8192,
  });
  const offers = [offer('a', 20n), offer('b', 40n)];

  it('verify the offers in any order, with the attested key only', () => {
    const signature = signOffers(offers, attested.secretKey);
    expect(verifyOffers(offers, signature, attestedKey)).toBe(true);
    expect(verifyOffers([...offers].reverse(), signature, attestedKey)).toBe(true);
    expect(verifyOffers(offers, signature, otherKey)).toBe(false);
    expect(verifyOffers(offers, flipped(signature), attestedKey)).toBe(false);
  });

  it('refuse any changed field, a dropped offer and an added one', () => {
    const signature = signOffers(offers, attested.secretKey);
    const [first, second] = offers as [ModelOffer, ModelOffer];
    const changes: Partial<ModelOffer>[] = [
      { pricePerToken: 21n },
      { name: 'another name' },
      { priceCoefficient: 10_001 },
      { promptMultiplier: 1 },
      { completionMultiplier: 1 },
      { contextSize: 4096 },
      { model: 'c'.repeat(64) },
    ];
    for (const change of changes) {
      expect(verifyOffers([{ ...first, ...change }, second], signature, attestedKey)).toBe(false);
    }
    expect(verifyOffers([first], signature, attestedKey)).toBe(false);
    expect(verifyOffers([...offers, offer('c', 20n)], signature, attestedKey)).toBe(false);
  });
});
