// Sizes leak what is sealed: a summary request's length is its post's length, a chunk's length its tokens'.
// Sealed JSON is padded with trailing spaces, which every JSON parser ignores, to a Padmé length (Nikitin et
// al., "Reducing Metadata Leakage from Encrypted Files and Communication with PURBs", PETS 2019): at most
// 12 % larger, and a length then reveals O(log log L) bits instead of log L.
import { MAX_SEALED_JOB_BYTES } from './job.js';

/** The request floor: every prompt shorter than this looks the same. */
export const REQUEST_PADDING_FLOOR = 1024;
/** The chunk floor: a chunk of a few tokens looks like any other. */
export const CHUNK_PADDING_FLOOR = 64;
/**
 * The request ceiling: padding never takes a request past what a proxy takes by default, once sealed (base64
 * makes it 4/3 of its plaintext; 64 KiB covers the header and up to 8 recipients' keys). A request that is
 * longer already is sent as it is, and refused for its own length.
 */
export const REQUEST_PADDING_CEILING = Math.floor(((MAX_SEALED_JOB_BYTES - 64 * 1024) * 3) / 4);

/** The Padmé length for `length` bytes, and at least `floor`. */
export function padmeLength(length: number, floor = 0): number {
  if (length <= floor) return floor;
  if (length < 2) return length;
  const exponent = Math.floor(Math.log2(length));
  const significantBits = Math.floor(Math.log2(exponent)) + 1;
  const mask = 2 ** (exponent - significantBits) - 1;
  // bit operations would overflow past 2^31; the arithmetic form is exact for any safe integer
  return Math.ceil(length / (mask + 1)) * (mask + 1);
}

const SPACE = 0x20;

/**
 * JSON text (UTF-8) padded with spaces to its Padmé length, at least `floor` bytes, and not past `ceiling`
 * (nor shortened, when it is longer already).
 */
export function padJson(json: Uint8Array, floor: number, ceiling = Number.POSITIVE_INFINITY): Uint8Array {
  const padded = new Uint8Array(Math.min(padmeLength(json.length, floor), Math.max(json.length, ceiling)));
  padded.set(json);
  padded.fill(SPACE, json.length);
  return padded;
}
