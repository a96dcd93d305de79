import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether a presented secret (a bearer token, an API key) equals the expected one. Compares digests in
 * constant time, so neither the length nor a matching prefix of the secret leaks through timing.
 */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
