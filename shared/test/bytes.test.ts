import { describe, expect, it } from 'vitest';
import { equalBytes, fromBase64, randomBytes, toBase64 } from '../src/bytes.js';
import { Base64 } from '../src/protocol/primitives.js';

describe('bytes', () => {
  it('base64 round-trips every length around the slice size, as Node encodes it', () => {
    for (const length of [0, 1, 2, 3, 1023, 1024, 1025, 70_000]) {
      const data = randomBytes(length);
      const text = toBase64(data);
      expect(text).toBe(Buffer.from(data).toString('base64'));
      expect(equalBytes(fromBase64(text), data)).toBe(true);
    }
  });

  it('draws more random bytes than one WebCrypto call allows', () => {
    const data = randomBytes(200_000);
    expect(data.length).toBe(200_000);
    expect(data.subarray(150_000).some((b) => b !== 0)).toBe(true);
  });

  it('validates megabytes of base64 without blowing the stack', () => {
    const text = toBase64(randomBytes(12_000_000));
    expect(Base64.safeParse(text).success).toBe(true);
    expect(Base64.safeParse(`${text.slice(1)}`).success).toBe(false);
    expect(Base64.safeParse('ab$=').success).toBe(false);
  });
});
