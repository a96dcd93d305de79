import { describe, expect, it } from 'vitest';
import { ExpiringIds } from '../src/expiring-ids.js';

describe('ExpiringIds', () => {
  it('remembers each id at least until it expires, and forgets it within a bucket after', () => {
    const ids = new ExpiringIds(1_000);
    ids.add('a', 2_500, 0);
    ids.add('b', 9_000, 0);
    for (const now of [1_000, 2_000, 2_499]) {
      ids.add(`filler-${now}`, now + 100_000, now);
      expect(ids.has('a')).toBe(true);
    }
    ids.add('c', 20_000, 3_000);
    expect([ids.has('a'), ids.has('b')]).toEqual([false, true]);
    ids.add('d', 20_000, 9_000);
    expect(ids.has('b')).toBe(false);
  });

  it('keeps an id deleted and added again under its new expiry', () => {
    const ids = new ExpiringIds(1_000);
    ids.add('job', 1_500, 0);
    ids.delete('job');
    expect(ids.has('job')).toBe(false);
    ids.add('job', 5_000, 100);
    ids.add('other', 60_000, 2_100);
    expect(ids.has('job')).toBe(true);
    ids.add('other', 60_000, 5_000);
    expect(ids.has('job')).toBe(false);
  });

  it('forgets an expired id while a hundred thousand others are held', () => {
    const ids = new ExpiringIds(1_000);
    for (let i = 0; i < 100_000; i++) ids.add(`live-${i}`, 3_600_000, 0);
    ids.add('soon', 500, 0);
    ids.add('late', 3_600_000, 1_000);
    expect(ids.size).toBe(100_001);
    expect(ids.has('soon')).toBe(false);
  });
});
