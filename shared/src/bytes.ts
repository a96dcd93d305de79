import { sha256 as nobleSha256, sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

/** Byte helpers shared by every module; Uint8Array only, so the same code runs in Node and browsers. */
export { bytesToHex as toHex, concatBytes, hexToBytes as fromHex, utf8ToBytes as utf8 };

export const sha256 = (data: Uint8Array): Uint8Array => nobleSha256(data);
export const sha512 = (data: Uint8Array): Uint8Array => nobleSha512(data);

const textDecoder = new TextDecoder('utf-8', { fatal: true });
export const fromUtf8 = (data: Uint8Array): string => textDecoder.decode(data);

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
