import { ManualClock } from '@cocoon/shared';
import { describe, expect, it } from 'vitest';
import { Billing, creditTonTopUp, PaymentRequiredError } from '../../src/payments/billing.js';
import { estimateSummaryCost, formatTon, starsFor } from '../../src/payments/pricing.js';
import { InMemoryBotStore } from '../../src/store/memory.js';
import type { ChannelSettings } from '../../src/store/types.js';
import { FakeSummarizer } from '../../src/summarize/fake-summarizer.js';
import { MAX_INPUT_CHARS } from '../../src/summarize/prompt.js';
import { SummaryService } from '../../src/summarize/service.js';

const TEXT = 'First point here. Second point there! Third point? Fourth one. Fifth. Sixth.';
const CHANNEL = -1009;
const job = (userId: number, messageId: number, sponsorChannel?: number) => ({
  source: { kind: 'channel-post' as const, chatId: CHANNEL, messageId },
  text: TEXT,
  language: 'auto' as const,
  length: 'short' as const,
  payer: { userId, ...(sponsorChannel === undefined ? {} : { sponsorChannel }) },
});

function setup(freeDailySummaries: number) {
  const clock = new ManualClock(Date.parse('2026-11-25T10:00:00Z'));
  const store = new InMemoryBotStore();
  const fake = new FakeSummarizer({ pricePerToken: 10n });
  const billing = new Billing(store, { freeDailySummaries, clock });
  const service = new SummaryService(store, fake, { clock, billing, ttlMs: 60_000 });
  return { clock, store, fake, billing, service };
}

describe('pricing', () => {
  it('estimates from the text length (capped at what the prompt keeps) and the answer length', () => {
    expect(estimateSummaryCost(3_000, 'short', 10n)).toBe(BigInt(1_000 + 200 + 120) * 10n);
    expect(estimateSummaryCost(10 * MAX_INPUT_CHARS, 'detailed', 1n)).toBe(
      BigInt(MAX_INPUT_CHARS / 3 + 200 + 640),
    );
  });

  it('rounds Stars up and formats nanotons exactly', () => {
    expect(starsFor(1n, 4_000_000n)).toBe(1);
    expect(starsFor(8_000_001n, 4_000_000n)).toBe(3);
    expect(formatTon(1_500_000n)).toBe('0.0015 TON');
    expect(formatTon(2n * 10n ** 9n)).toBe('2 TON');
    expect(formatTon(-1n)).toBe('−0.000000001 TON');
  });
});

describe('Billing with SummaryService', () => {
  it('uses the free daily quota first, then credit, debiting exactly the receipt amount', async () => {
    const { store, service, fake, clock } = setup(1);
    await service.summarize(job(1, 1));
    expect(await store.freeSummariesUsed(1, '2026-11-25')).toBe(1);
    await store.addLedgerEntry({ key: 'ton:1:aa', account: 1, amount: 1_000_000n, kind: 'ton', at: 0 });
    await service.summarize(job(1, 2));
    const [paid, free] = await store.recentJobs(1, 5);
    expect(free).toMatchObject({ paidBy: 'free', account: 1 });
    expect(paid).toMatchObject({ paidBy: 'credit', account: 1, sourceKind: 'channel-post' });
    const cost = ((paid?.promptTokens ?? 0) + (paid?.completionTokens ?? 0)) * 10;
    expect(paid?.cost).toBe(BigInt(cost));
    expect(await store.balance(1)).toBe(1_000_000n - BigInt(cost));
    expect(fake.requests).toHaveLength(2);
    // A stored summary costs nobody anything; the next day brings a fresh free one.
    await service.summarize(job(1, 2));
    expect(await store.recentJobs(1, 5)).toHaveLength(2);
    clock.advance(24 * 3600 * 1000);
    await service.summarize(job(1, 3));
    expect((await store.recentJobs(1, 1))[0]?.paidBy).toBe('free');
  });

  it('refuses a job that neither the quota nor the credit covers, and gives back a failed job’s free summary', async () => {
    const { store, service, fake } = setup(1);
    fake.failNext();
    await expect(service.summarize(job(2, 1))).rejects.toMatchObject({ code: 'unavailable' });
    expect(await store.freeSummariesUsed(2, '2026-11-25')).toBe(0);
    await service.summarize(job(2, 1));
    const refused = service.summarize(job(2, 2));
    await expect(refused).rejects.toBeInstanceOf(PaymentRequiredError);
    await expect(refused).rejects.toMatchObject({ balance: 0n, freeDailySummaries: 1 });
    expect(fake.requests).toHaveLength(2);
  });

  it('lets a reader who can pay go on when the reader whose job they joined could not', async () => {
    const { store, service, fake } = setup(0);
    await store.addLedgerEntry({ key: 'ton:4:dd', account: 9, amount: 1_000_000n, kind: 'ton', at: 0 });
    const broke = { ...job(8, 1) };
    const paying = { ...job(9, 1) };
    const [first, second] = await Promise.allSettled([service.summarize(broke), service.summarize(paying)]);
    expect(first).toMatchObject({ status: 'rejected', reason: expect.any(PaymentRequiredError) });
    expect(second).toMatchObject({ status: 'fulfilled' });
    expect(fake.requests).toHaveLength(1);
    expect((await store.recentJobs(9, 1))[0]).toMatchObject({ paidBy: 'credit', account: 9 });
  });

  it('charges a channel’s sponsor budget while it lasts, then the reader', async () => {
    const { store, service } = setup(0);
    await store.addLedgerEntry({ key: 'ton:2:bb', account: CHANNEL, amount: 4_000n, kind: 'ton', at: 0 });
    await store.addLedgerEntry({ key: 'ton:3:cc', account: 3, amount: 1_000_000n, kind: 'ton', at: 0 });
    await service.summarize(job(3, 1, CHANNEL));
    const [sponsored] = await store.recentJobs(3, 1);
    expect(sponsored).toMatchObject({ paidBy: 'sponsor', account: CHANNEL });
    expect(await store.balance(CHANNEL)).toBe(4_000n - (sponsored?.cost ?? 0n));
    await service.summarize(job(3, 2, CHANNEL)); // the budget no longer covers the estimate
    expect((await store.recentJobs(3, 1))[0]).toMatchObject({ paidBy: 'credit', account: 3 });
  });

  it("keeps a channel's sponsored spending within its monthly budget, then the reader pays", async () => {
    const { store, service } = setup(0);
    const channel: ChannelSettings = {
      chatId: CHANNEL,
      title: 'News',
      enabled: true,
      minPostLength: 0,
      language: 'auto',
      length: 'short',
      payer: 'sponsor',
      postAsComment: false,
      canEditMessages: true,
      active: true,
      sponsorBudget: 1n,
    };
    await store.saveChannel(channel);
    await store.addLedgerEntry({ key: 'ton:4:dd', account: CHANNEL, amount: 10n ** 9n, kind: 'ton', at: 0 });
    await store.addLedgerEntry({ key: 'ton:5:ee', account: 5, amount: 10n ** 9n, kind: 'ton', at: 0 });
    // A budget of 1 nanoton covers no job, however rich the sponsor account.
    await service.summarize(job(5, 1, CHANNEL));
    expect((await store.recentJobs(5, 1))[0]).toMatchObject({ paidBy: 'credit', account: 5 });
    // Raised, it covers the next job.
    await store.saveChannel({ ...channel, sponsorBudget: 10n ** 6n });
    await service.summarize(job(5, 2, CHANNEL));
    expect((await store.recentJobs(5, 1))[0]).toMatchObject({ paidBy: 'sponsor', account: CHANNEL });
  });

  it('forgets summaries after their time to live', async () => {
    const { service, fake, clock } = setup(5);
    const first = await service.summarize(job(4, 1));
    expect(await service.stored(first.id)).toBeDefined();
    clock.advance(60_000);
    expect(await service.stored(first.id)).toBeUndefined();
    await service.summarize(job(4, 1));
    expect(fake.requests).toHaveLength(2);
  });
});

describe('creditTonTopUp', () => {
  it('credits each (lt, hash) once and validates its input', async () => {
    const store = new InMemoryBotStore();
    const topUp = { userId: 5, amount: 2n * 10n ** 9n, lt: 4242n, hash: 'ab'.repeat(32) };
    expect(await creditTonTopUp(store, topUp)).toBe(true);
    expect(await creditTonTopUp(store, topUp)).toBe(false);
    expect(await creditTonTopUp(store, { ...topUp, lt: 4243n })).toBe(true);
    expect(await store.balance(5)).toBe(4n * 10n ** 9n);
    await expect(creditTonTopUp(store, { ...topUp, amount: 0n })).rejects.toThrow();
    await expect(creditTonTopUp(store, { ...topUp, hash: 'xyz' })).rejects.toThrow();
  });
});
