import { sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * Byte helpers shared by every module; Uint8Array only, so the same code runs in Node and browsers.
 * SHA-256 and base64 sit on hot paths (every sealed chunk): they come from #crypto-primitives, OpenSSL and
 * Buffer under Node.
 */
export { fromBase64, fromHex, sha256, toBase64, toHex } from '#crypto-primitives';
export { concatBytes, utf8ToBytes as utf8 };

export const sha512 = (data: Uint8Array): Uint8Array => nobleSha512(data);

const textDecoder = new TextDecoder('utf-8', { fatal: true });
export const fromUtf8 = (data: Uint8Array): string => textDecoder.decode(data);

/** Constant-time comparison, for MACs, hashes and keys. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** WebCrypto fills at most 64 KiB a call. */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 0x10000) crypto.getRandomValues(out.subarray(i, i + 0x10000));
  return out;
}
