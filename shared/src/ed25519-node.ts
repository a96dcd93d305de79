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

export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, secretKey]),
    format: 'der',
    type: 'pkcs8',
  });
  return new Uint8Array(sign(null, message, key));
}

export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  return verify(null, message, publicKeyObject(publicKey), signature);
}
