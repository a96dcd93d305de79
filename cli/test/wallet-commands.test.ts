import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTon, TonAmount } from '../src/account.js';
import { runCocoon } from './support/processes.js';

// The commands against a running network are in start-process.test.ts, which shares its one `npm start`.

describe('TON amounts', () => {
  it('reads decimal text into nanotons exactly, without floats', () => {
    expect(TonAmount.parse('1')).toBe(1_000_000_000n);
    expect(TonAmount.parse('0.1')).toBe(100_000_000n);
    expect(TonAmount.parse(' 0.000000001 ')).toBe(1n);
    // beyond a double's precision
    expect(TonAmount.parse('123456789.123456789')).toBe(123_456_789_123_456_789n);
  });

  it('refuses what is not a positive amount with at most 9 decimals', () => {
    for (const text of ['', '0', '0.000000000', '-1', '1.0000000001', '1e3', '0x10', '.5', '1.', '01', 'one'])
      expect(TonAmount.safeParse(text).success, text).toBe(false);
  });

  it('prints nanotons with all 9 decimals', () => {
    expect(formatTon(1_000_000_000n)).toBe('1.000000000 TON');
    expect(formatTon(1n)).toBe('0.000000001 TON');
    expect(formatTon(0n)).toBe('0.000000000 TON');
    expect(formatTon(-266_680n)).toBe('-0.000266680 TON');
    expect(formatTon(123_456_789_123_456_789n)).toBe('123456789.123456789 TON');
  });
});

describe('the wallet commands without a network', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cocoon-wallet-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cocoon = (...args: string[]) =>
    runCocoon(args, {
      cwd: dir,
      env: { ...process.env, COCOON_DATA_DIR: join(dir, 'data'), TON_NETWORK: 'sandbox' },
    });

  it('says what is wrong with an amount before it touches anything', async () => {
    const { code, output } = await cocoon('topup', '1.0000000001');
    expect(code).toBe(1);
    expect(output).toContain('at most 9 decimals');
  });

  it('says how to start the local network when there is none', async () => {
    const { code, output } = await cocoon('balance');
    expect(code).toBe(1);
    expect(output).toContain('start one with `npm start`');
  });
});
