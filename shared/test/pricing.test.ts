import { describe, expect, it } from 'vitest';
import { highestTokenPrice, jobCost } from '../src/pricing.js';

describe('highestTokenPrice', () => {
  it('is the price of the dearer kind of token, rounded up, so a ceiling never lets a dearer offer through', () => {
    const schedule = { pricePerToken: 20n, promptMultiplier: 10_000, completionMultiplier: 20_000 };
    expect(highestTokenPrice(schedule)).toBe(40n);
    expect(highestTokenPrice({ ...schedule, promptMultiplier: 30_000 })).toBe(60n);
    // 3 × 1.0001 = 3.0003 nanotons per token: 4 as a ceiling compares it
    const odd = { pricePerToken: 3n, promptMultiplier: 10_001, completionMultiplier: 10_000 };
    expect(highestTokenPrice(odd)).toBe(4n);
    // A million prompt tokens of it cost more than 3 per token: the rounding up is what keeps it honest.
    expect(jobCost({ promptTokens: 1_000_000, completionTokens: 0 }, odd)).toBeGreaterThan(3n * 1_000_000n);
  });
});
