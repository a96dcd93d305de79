// Sizes leak what is sealed: a summary request's length is its post's length, a chunk's length its tokens'.
// Sealed JSON is padded with trailing spaces, which every JSON parser ignores, to a Padmé length (Nikitin et
// al., "Reducing Metadata Leakage from Encrypted Files and Communication with PURBs", PETS 2019): at most
// 12 % larger, and a length then reveals O(log log L) bits instead of log L.

/** The request floor: every prompt shorter than this looks the same. */
export const REQUEST_PADDING_FLOOR = 1024;
/** The chunk floor: a chunk of a few tokens looks like any other. */
export const CHUNK_PADDING_FLOOR = 64;

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

/** JSON text (UTF-8) padded with spaces to its Padmé length, at least `floor` bytes. */
export function padJson(json: Uint8Array, floor: number): Uint8Array {
  const padded = new Uint8Array(padmeLength(json.length, floor));
  padded.set(json);
  padded.fill(SPACE, json.length);
  return padded;
}
