// Node-only: Ed25519 through OpenSSL, about ten times faster than pure JS. Chosen by package.json "imports"
// (#ed25519) under the "node" condition; browsers get ed25519-web.ts.
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Proxies verify the same few client and worker keys over and over: keep their parsed forms. */
const publicKeys = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 4096;

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString('hex');
  let key = publicKeys.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (publicKeys.size >= MAX_CACHED_KEYS) publicKeys.clear();
    publicKeys.set(id, key);
  }
  return key;
}

interface ParsedPrivateKey {
  bytes: Uint8Array;
  key: KeyObject;
  publicKey?: Uint8Array;
}

/**
 * A worker signs every receipt, and a client every request, with one key: keep its parsed form, since parsing
 * costs about ten times the signature (0.7 ms against 0.07 ms). Keyed by the array itself and checked against
 * a copy of its bytes, so an array refilled with another key never signs with the old one.
 */
const privateKeys = new WeakMap<Uint8Array, ParsedPrivateKey>();

function parsedPrivateKey(secretKey: Uint8Array): ParsedPrivateKey {
  const cached = privateKeys.get(secretKey);
  if (cached !== undefined && Buffer.compare(cached.bytes, secretKey) === 0) return cached;
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, secretKey]),
    format: 'der',
    type: 'pkcs8',
  });
  const parsed: ParsedPrivateKey = { bytes: Uint8Array.from(secretKey), key };
  privateKeys.set(secretKey, parsed);
  return parsed;
}

export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, parsedPrivateKey(secretKey).key));
}

/** The public key of a 32-byte secret key (seed); a client computes it for every request it signs. */
export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  const parsed = parsedPrivateKey(secretKey);
  parsed.publicKey ??= new Uint8Array(
    createPublicKey(parsed.key).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length),
  );
  return Uint8Array.from(parsed.publicKey);
}

export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  return verify(null, message, publicKeyObject(publicKey), signature);
}

/**
 * On libuv's thread pool (node:crypto runs a verify there when given a callback): a proxy checks two
 * signatures per job, ≈ 80 µs each, which would otherwise take a third of its main thread's time.
 */
export function ed25519VerifyAsync(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return Promise.resolve(false);
  const key = publicKeyObject(publicKey);
  return new Promise((resolve, reject) =>
    verify(null, message, key, signature, (error, valid) => (error ? reject(error) : resolve(valid))),
  );
}
