// Node build of the hot primitives (see primitives.ts): OpenSSL through node:crypto, synchronous, with
// AES-NI and SHA extensions where the CPU has them. Browsers get primitives-web.ts.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createSecretKey,
  type Hash,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import { DhkemX25519HkdfSha256, HkdfSha256, type KdfInterface, type KemInterface } from '@hpke/core';
import { AES_GCM_TAG_LENGTH, type AeadKey, type Sha256Stream } from './primitives.js';

/** A plain Uint8Array over a Buffer's bytes: Buffer's own slice() shares memory, which callers do not expect. */
const plain = (buffer: Buffer): Uint8Array =>
  new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
const view = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export const sha256 = (data: Uint8Array): Uint8Array => plain(createHash('sha256').update(data).digest());

class NodeSha256Stream implements Sha256Stream {
  readonly #hash: Hash = createHash('sha256');
  update(data: Uint8Array): Sha256Stream {
    this.#hash.update(data);
    return this;
  }
  digest(): Uint8Array {
    return plain(this.#hash.copy().digest());
  }
}
export const createSha256 = (): Sha256Stream => new NodeSha256Stream();

export const toBase64 = (data: Uint8Array): string => view(data).toString('base64');

export const toHex = (data: Uint8Array): string => view(data).toString('hex');

const HEX = /^(?:[0-9a-fA-F]{2})*$/;
/** Buffer alone would stop silently at the first bad digit: the check keeps the browsers' rule (refuse). */
export function fromHex(text: string): Uint8Array {
  if (typeof text !== 'string' || !HEX.test(text))
    throw new Error('hex string expected, got a malformed one');
  return plain(Buffer.from(text, 'hex'));
}

/** atob decides what is valid (the same rule as in browsers); Buffer only converts its result. */
export const fromBase64 = (text: string): Uint8Array => plain(Buffer.from(atob(text), 'latin1'));

export async function deriveAeadKey(
  secret: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
): Promise<AeadKey> {
  const key = createSecretKey(new Uint8Array(hkdfSync('sha256', secret, salt, info, 32)));
  return key as unknown as AeadKey;
}

export async function aesGcmEncrypt(
  key: AeadKey,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array> {
  const cipher = createCipheriv('aes-256-gcm', key as unknown as KeyObject, nonce, {
    authTagLength: AES_GCM_TAG_LENGTH,
  });
  cipher.setAAD(aad);
  const out = new Uint8Array(plaintext.length + AES_GCM_TAG_LENGTH);
  // GCM is a stream mode: update() returns every byte and final() none.
  out.set(cipher.update(plaintext), 0);
  cipher.final();
  out.set(cipher.getAuthTag(), plaintext.length);
  return out;
}

/** Throws when the tag does not verify (changed ciphertext, aad, nonce or key). */
export async function aesGcmDecrypt(
  key: AeadKey,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array> {
  if (ciphertext.length < AES_GCM_TAG_LENGTH) throw new Error('ciphertext is shorter than its tag');
  const tagAt = ciphertext.length - AES_GCM_TAG_LENGTH;
  const decipher = createDecipheriv('aes-256-gcm', key as unknown as KeyObject, nonce, {
    authTagLength: AES_GCM_TAG_LENGTH,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(ciphertext.subarray(tagAt));
  const plaintext = decipher.update(ciphertext.subarray(0, tagAt));
  decipher.final(); // checks the tag; GCM returns no bytes here
  return plain(plaintext);
}

/** X25519 through WebCrypto, which Node implements with OpenSSL: several times faster than pure JS. */
export const createHpkeKem = (): KemInterface => new DhkemX25519HkdfSha256();

const HASH_SIZE = 32;
const arrayBuffer = (bytes: Uint8Array): ArrayBuffer =>
  bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
const bytesOf = (input: ArrayBufferLike | ArrayBufferView): Uint8Array =>
  ArrayBuffer.isView(input)
    ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
    : new Uint8Array(input);

/**
 * HKDF-SHA256 for the HPKE key schedule with node:crypto's HMAC, called synchronously: @hpke/core's goes
 * through WebCrypto, two asynchronous calls (import a key, sign) per step and six steps per seal or open.
 * The labels and the schedule stay @hpke/core's; only RFC 5869's Extract and Expand are replaced.
 */
class NodeHkdfSha256 extends HkdfSha256 {
  override async extract(
    salt: ArrayBufferLike | ArrayBufferView,
    ikm: ArrayBufferLike | ArrayBufferView,
  ): Promise<ArrayBuffer> {
    const saltBytes = bytesOf(salt);
    // RFC 5869: an empty salt is HashLen zero bytes; HPKE never passes another length
    const key = saltBytes.byteLength === 0 ? new Uint8Array(HASH_SIZE) : saltBytes;
    return arrayBuffer(plain(createHmac('sha256', key).update(bytesOf(ikm)).digest()));
  }

  override async expand(
    prk: ArrayBufferLike | ArrayBufferView,
    info: ArrayBufferLike | ArrayBufferView,
    len: number,
  ): Promise<ArrayBuffer> {
    if (len > 255 * HASH_SIZE) throw new Error('Entropy limit reached');
    const key = bytesOf(prk);
    const okm = new Uint8Array(len);
    let previous: Uint8Array = new Uint8Array(0);
    for (let i = 1, at = 0; at < len; i++) {
      previous = plain(
        createHmac('sha256', key).update(previous).update(bytesOf(info)).update(Uint8Array.of(i)).digest(),
      );
      okm.set(previous.subarray(0, Math.min(HASH_SIZE, len - at)), at);
      at += HASH_SIZE;
    }
    return okm.buffer;
  }
}

export const createHpkeKdf = (): KdfInterface => new NodeHkdfSha256();
