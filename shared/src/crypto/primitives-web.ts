// Browser build of the hot primitives (see primitives.ts): WebCrypto where every browser has it (AES-GCM,
// HKDF), pure JS where not all do (SHA-256 streaming, X25519). Node gets primitives-node.ts.
import { HkdfSha256, type KdfInterface, type KemInterface } from '@hpke/core';
import { DhkemX25519HkdfSha256 } from '@hpke/dhkem-x25519';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import type { AeadKey, Sha256Stream } from './primitives.js';

/** WebCrypto wants buffers backed by an ArrayBuffer (not shared memory); copy only when needed. */
const buffer = (bytes: Uint8Array): Uint8Array<ArrayBuffer> =>
  bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);

export const sha256 = (data: Uint8Array): Uint8Array => nobleSha256(data);

class NobleSha256Stream implements Sha256Stream {
  readonly #hash = nobleSha256.create();
  update(data: Uint8Array): Sha256Stream {
    this.#hash.update(data);
    return this;
  }
  digest(): Uint8Array {
    return this.#hash.clone().digest();
  }
}
export const createSha256 = (): Sha256Stream => new NobleSha256Stream();

export const toHex = (data: Uint8Array): string => bytesToHex(data);
export const fromHex = (text: string): Uint8Array => hexToBytes(text);

export function toBase64(data: Uint8Array): string {
  // apply() over small slices: spreading large arrays is an order of magnitude slower.
  const parts: string[] = [];
  for (let i = 0; i < data.length; i += 0x400) {
    parts.push(String.fromCharCode.apply(null, data.subarray(i, i + 0x400) as unknown as number[]));
  }
  return btoa(parts.join(''));
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export async function deriveAeadKey(
  secret: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
): Promise<AeadKey> {
  const base = await crypto.subtle.importKey('raw', buffer(secret), 'HKDF', false, ['deriveKey']);
  const key = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: buffer(salt), info: buffer(info) },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
  return key as unknown as AeadKey;
}

export async function aesGcmEncrypt(
  key: AeadKey,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array> {
  const params = { name: 'AES-GCM', iv: buffer(nonce), additionalData: buffer(aad) };
  return new Uint8Array(await crypto.subtle.encrypt(params, key as unknown as CryptoKey, buffer(plaintext)));
}

/** Throws when the tag does not verify (changed ciphertext, aad, nonce or key). */
export async function aesGcmDecrypt(
  key: AeadKey,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array> {
  const params = { name: 'AES-GCM', iv: buffer(nonce), additionalData: buffer(aad) };
  return new Uint8Array(await crypto.subtle.decrypt(params, key as unknown as CryptoKey, buffer(ciphertext)));
}

/** Pure-JS X25519: WebCrypto's X25519 is missing from the older browsers Telegram's Mini Apps run in. */
export const createHpkeKem = (): KemInterface => new DhkemX25519HkdfSha256();

/** @hpke/core's HKDF-SHA256 over WebCrypto's HMAC, which every browser has. */
export const createHpkeKdf = (): KdfInterface => new HkdfSha256();
