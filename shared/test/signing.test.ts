import { describe, expect, it } from 'vitest';
import { fromHex, randomBytes, toHex } from '../src/bytes.js';
import * as nodeEd25519 from '../src/ed25519-node.js';
import * as webEd25519 from '../src/ed25519-web.js';
import {
  generateSigningKeyPair,
  signBytes,
  signingPublicKey,
  verifyBytes,
  verifyBytesAsync,
} from '../src/signing.js';

// RFC 8032 section 7.1, test 2 (one-byte message).
const rfc = {
  secretKey: fromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'),
  publicKey: fromHex('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'),
  message: fromHex('72'),
  signature:
    '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
};

describe.each([
  ['node (OpenSSL)', nodeEd25519],
  ['web (@noble/curves)', webEd25519],
])('Ed25519 %s', (_, impl) => {
  it('matches RFC 8032, checked at once and off the main thread', async () => {
    expect(toHex(impl.ed25519Sign(rfc.message, rfc.secretKey))).toBe(rfc.signature);
    expect(toHex(impl.ed25519PublicKey(rfc.secretKey))).toBe(toHex(rfc.publicKey));
    expect(impl.ed25519Verify(fromHex(rfc.signature), rfc.message, rfc.publicKey)).toBe(true);
    expect(await impl.ed25519VerifyAsync(fromHex(rfc.signature), rfc.message, rfc.publicKey)).toBe(true);
    const forged = fromHex(rfc.signature);
    forged[0] = (forged[0] as number) ^ 1;
    expect(impl.ed25519Verify(forged, rfc.message, rfc.publicKey)).toBe(false);
    expect(await impl.ed25519VerifyAsync(forged, rfc.message, rfc.publicKey)).toBe(false);
  });
});

describe('signing', () => {
  it('verifies across implementations and refuses malformed input', () => {
    const keys = generateSigningKeyPair();
    const message = randomBytes(100);
    const signature = signBytes(message, keys.secretKey);
    expect(webEd25519.ed25519Verify(signature, message, keys.publicKey)).toBe(true);
    expect(verifyBytes(webEd25519.ed25519Sign(message, keys.secretKey), message, keys.publicKey)).toBe(true);
    expect(verifyBytes(signature.subarray(1), message, keys.publicKey)).toBe(false);
    expect(verifyBytes(signature, message, keys.publicKey.subarray(1))).toBe(false);
  });

  it('verifies off the main thread as at once, and refuses malformed input there too', async () => {
    const keys = generateSigningKeyPair();
    const message = randomBytes(100);
    const signature = signBytes(message, keys.secretKey);
    expect(await verifyBytesAsync(signature, message, keys.publicKey)).toBe(true);
    expect(await verifyBytesAsync(signature, randomBytes(100), keys.publicKey)).toBe(false);
    expect(await verifyBytesAsync(signature.subarray(1), message, keys.publicKey)).toBe(false);
    expect(await verifyBytesAsync(signature, message, keys.publicKey.subarray(1))).toBe(false);
    // Not a point on the curve: OpenSSL refuses the key itself.
    expect(await verifyBytesAsync(signature, message, new Uint8Array(32).fill(0xff))).toBe(false);
  });

  it('signs with the key an array holds now, even after the same array held another key', () => {
    const first = generateSigningKeyPair();
    const second = generateSigningKeyPair();
    const message = randomBytes(32);
    const secretKey = Uint8Array.from(first.secretKey);
    expect(verifyBytes(signBytes(message, secretKey), message, first.publicKey)).toBe(true);
    expect(toHex(signingPublicKey(secretKey))).toBe(toHex(first.publicKey));
    secretKey.set(second.secretKey);
    expect(toHex(signingPublicKey(secretKey))).toBe(toHex(second.publicKey));
    const signature = signBytes(message, secretKey);
    expect(verifyBytes(signature, message, second.publicKey)).toBe(true);
    expect(verifyBytes(signature, message, first.publicKey)).toBe(false);
  });
});
