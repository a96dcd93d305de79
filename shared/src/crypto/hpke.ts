import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import { CipherSuite } from '@hpke/core';
import { createHpkeKdf, createHpkeKem } from '#crypto-primitives';
import { sha256, toHex } from '../bytes.js';
import { SealError } from './errors.js';

/**
 * RFC 9180 suite for wrapping job keys: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305 (appendix A.2).
 * The AEAD is pure JS (only a 32-byte key per recipient goes through it); the X25519 of the KEM is OpenSSL's
 * under Node and pure JS in browsers (#crypto-primitives), so every browser can seal.
 */
export const HPKE_SUITE = {
  name: 'DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305',
  kemId: 0x0020,
  kdfId: 0x0001,
  aeadId: 0x0003,
} as const;

export const hpkeSuite = new CipherSuite({
  kem: createHpkeKem(),
  kdf: createHpkeKdf(),
  aead: new Chacha20Poly1305(),
});

export const HPKE_PUBLIC_KEY_LENGTH = 32;
/** Length of the encapsulated key (an ephemeral X25519 public key). */
export const HPKE_ENC_LENGTH = 32;
/** Poly1305 tag added to every HPKE ciphertext. */
export const HPKE_TAG_LENGTH = 16;

/** A worker's HPKE key pair. It lives only in memory: the private key is never serialised. */
export interface WorkerHpkeKeyPair {
  /** Raw X25519 public key, the value bound into the worker's attestation. */
  readonly publicKey: Uint8Array;
  /** hpkeKeyId(publicKey): how sealed jobs name this worker. */
  readonly keyId: string;
  readonly privateKey: CryptoKey;
}

/** Hex SHA-256 of a raw HPKE public key. */
export const hpkeKeyId = (publicKey: Uint8Array): string => toHex(sha256(publicKey));

export async function generateWorkerKeyPair(): Promise<WorkerHpkeKeyPair> {
  const pair = await hpkeSuite.kem.generateKeyPair();
  const publicKey = new Uint8Array(await hpkeSuite.kem.serializePublicKey(pair.publicKey));
  return { publicKey, keyId: hpkeKeyId(publicKey), privateKey: pair.privateKey };
}

/** Single-shot base-mode seal (RFC 9180 section 6.1) to a raw recipient public key. */
export async function hpkeSeal(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  info: Uint8Array,
): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
  if (recipientPublicKey.length !== HPKE_PUBLIC_KEY_LENGTH) {
    throw new SealError('malformed', `recipient public key must be ${HPKE_PUBLIC_KEY_LENGTH} bytes`);
  }
  const publicKey = await hpkeSuite.kem.deserializePublicKey(recipientPublicKey);
  const { enc, ct } = await hpkeSuite.seal({ recipientPublicKey: publicKey, info }, plaintext, aad);
  return { enc: new Uint8Array(enc), ciphertext: new Uint8Array(ct) };
}

/** Single-shot base-mode open; any failure (bad enc, wrong key, changed ciphertext or aad) is 'tampered'. */
export async function hpkeOpen(
  keyPair: WorkerHpkeKeyPair,
  enc: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
  info: Uint8Array,
): Promise<Uint8Array> {
  if (enc.length !== HPKE_ENC_LENGTH) {
    throw new SealError('malformed', `HPKE enc must be ${HPKE_ENC_LENGTH} bytes`);
  }
  try {
    const plaintext = await hpkeSuite.open({ recipientKey: keyPair.privateKey, enc, info }, ciphertext, aad);
    return new Uint8Array(plaintext);
  } catch {
    throw new SealError('tampered', 'HPKE open failed: wrong key, or enc, ciphertext or header changed');
  }
}
