import { describe, expect, it } from 'vitest';
import { formatTon, parseTon, shortHex } from '../src/format.js';

describe('TON amounts', () => {
  it('formats nanotons without losing precision', () => {
    expect(formatTon(2_500_000_000n)).toBe('2.5 TON');
    expect(formatTon(1n)).toBe('0.000000001 TON');
    expect(formatTon(1_234_567_890_123_456_789n)).toBe('1,234,567,890.123456789 TON');
    expect(formatTon(1_234_567n, 4)).toBe('0.0012 TON');
    expect(formatTon(0n)).toBe('0 TON');
  });

  it('parses what people type, and nothing else', () => {
    expect(parseTon('1')).toBe(1_000_000_000n);
    expect(parseTon(' 0.5 ')).toBe(500_000_000n);
    expect(parseTon('1,25')).toBe(1_250_000_000n);
    expect(parseTon('0.000000001')).toBe(1n);
    for (const bad of ['', '-1', '1.0000000001', '1e9', 'abc', '1.2.3'])
      expect(parseTon(bad)).toBeUndefined();
  });

  it('round-trips', () => {
    for (const value of [1n, 999_999_999n, 10_000_000_000_000n]) {
      expect(parseTon(formatTon(value).replace(' TON', '').replaceAll(',', ''))).toBe(value);
    }
  });
});

it('shortens long hex', () => {
  expect(shortHex('00112233445566778899')).toBe('001122…778899');
  expect(shortHex('abcd')).toBe('abcd');
});
