import { Address } from '@ton/core';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex } from '../../src/bytes.js';
import { signPayoutAddress, verifyPayoutAddress } from '../../src/protocol/payout.js';
import { generateSigningKeyPair } from '../../src/signing.js';

const attested = generateSigningKeyPair();
const attestedKey = toHex(attested.publicKey);
const raw = `0:${'5a'.repeat(32)}`;

describe('payout address signatures', () => {
  it('verify for every spelling of the signed wallet, with the attested key only', () => {
    const signature = signPayoutAddress(raw, attested.secretKey);
    const bounceable = Address.parse(raw).toString({ bounceable: true });
    const testOnly = Address.parse(raw).toString({ bounceable: false, testOnly: true });
    for (const spelling of [raw, bounceable, testOnly]) {
      expect(verifyPayoutAddress(spelling, signature, attestedKey)).toBe(true);
    }
    expect(signPayoutAddress(bounceable, attested.secretKey)).toBe(signature);
    expect(verifyPayoutAddress(raw, signature, toHex(generateSigningKeyPair().publicKey))).toBe(false);
  });

  it('refuse another wallet, a changed signature and an address that is not a TON address', () => {
    const signature = signPayoutAddress(raw, attested.secretKey);
    expect(verifyPayoutAddress(`0:${'5b'.repeat(32)}`, signature, attestedKey)).toBe(false);
    expect(verifyPayoutAddress(`-1:${'5a'.repeat(32)}`, signature, attestedKey)).toBe(false);
    const changed = fromBase64(signature);
    changed[10] = (changed[10] as number) ^ 1;
    expect(verifyPayoutAddress(raw, toBase64(changed), attestedKey)).toBe(false);
    expect(verifyPayoutAddress('my wallet', signature, attestedKey)).toBe(false);
    expect(() => signPayoutAddress('my wallet', attested.secretKey)).toThrow();
  });
});
