import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerAppStore } from '../../src/app/index.js';
import { creditTonTopUp } from '../../src/payments/billing.js';
import type { BotStore, JobRecord } from '../../src/store/types.js';
import { BACKENDS, type BotStoreBackend, openBackend } from './backends.js';
import { createDemo, DEMO_CHANNEL_ID, DEMO_NANOTONS_PER_STAR, DEMO_USER } from './demo.js';

const NOW = 1_790_000_000; // 2026-09-21 14:13:20 UTC
const clock = { now: () => NOW * 1000 };
const RATE = DEMO_NANOTONS_PER_STAR;
const appStoreOver = (bot: BotStore) =>
  new LedgerAppStore(bot, { freeDailySummaries: 5, nanotonsPerStar: RATE, clock });
const tx = (n: number) => ({ lt: String(48_300_000_000 + n), hash: n.toString(16).padStart(64, '0') });

describe.each(BACKENDS)('LedgerAppStore over the bot store in %s', (backendName) => {
  let backend: BotStoreBackend;
  beforeAll(async () => {
    backend = await openBackend(backendName);
  }, 120_000);
  afterAll(() => backend?.close());

  it('keeps a top-up pending until the chain credits its (user, query id), and credits a transaction once', async () => {
    const bot = await backend.fresh();
    const store = appStoreOver(bot);
    const intent = {
      queryId: 77n,
      userId: 1001,
      amount: 1_000_000_000n,
      createdAt: NOW,
      validUntil: NOW + 900,
    };
    await store.saveTopUp(intent);
    expect(await store.topUp(1001, 77n)).toEqual(intent);
    expect(await store.topUp(1002, 77n)).toBeUndefined();

    // Another user's reference, or another query id, confirms nothing here (but credits that user).
    expect(await store.recordCredit({ ...tx(1), userId: 1002, queryId: 77n, amount: 5n })).toBe(true);
    expect(await store.recordCredit({ ...tx(2), userId: 1001, queryId: 78n, amount: 7n })).toBe(true);
    expect(await store.credit(1001, 77n)).toBeUndefined();

    const credit = { ...tx(3), userId: 1001, queryId: 77n, amount: 996_000_000n };
    const added = await Promise.all([store.recordCredit(credit), store.recordCredit(credit)]);
    expect(added.filter(Boolean)).toHaveLength(1);
    expect(await store.recordCredit(credit)).toBe(false);
    // The bot's own path for the same transaction finds it credited already.
    expect(
      await creditTonTopUp(bot, {
        userId: 1001,
        amount: 996_000_000n,
        lt: BigInt(credit.lt),
        hash: credit.hash,
      }),
    ).toBe(false);
    expect(await store.credit(1001, 77n)).toEqual({
      lt: credit.lt,
      hash: credit.hash,
      amount: 996_000_000n,
      at: NOW,
    });
    expect(await bot.balance(1001)).toBe(996_000_007n);
    expect((await store.account(1001)).tonCredit).toBe(996_000_007n);
    expect(await bot.balance(1002)).toBe(5n);
  });

  it('confirms an intent whose transaction the bot credited first', async () => {
    const bot = await backend.fresh();
    const store = appStoreOver(bot);
    await store.saveTopUp({
      queryId: 9n,
      userId: 1001,
      amount: 200_000_000n,
      createdAt: NOW,
      validUntil: NOW + 900,
    });
    const credit = { ...tx(4), userId: 1001, queryId: 9n, amount: 199_000_000n };
    expect(
      await creditTonTopUp(bot, {
        userId: 1001,
        amount: credit.amount,
        lt: BigInt(credit.lt),
        hash: credit.hash,
      }),
    ).toBe(true);
    expect(await store.recordCredit(credit)).toBe(false);
    expect((await store.credit(1001, 9n))?.amount).toBe(199_000_000n);
    expect(await bot.balance(1001)).toBe(199_000_000n);
  });

  it('refuses a malformed chain credit', async () => {
    const store = appStoreOver(await backend.fresh());
    const credit = { ...tx(5), userId: 1001, queryId: 1n, amount: 1n };
    await expect(store.recordCredit({ ...credit, lt: '12a' })).rejects.toThrow(/logical time/);
    await expect(store.recordCredit({ ...credit, hash: 'AB'.repeat(32) })).rejects.toThrow(/hex hash/);
    await expect(store.recordCredit({ ...credit, amount: 0n })).rejects.toThrow();
  });

  it('splits the one ledger balance into TON and Stars credit, spending Stars credit last', async () => {
    const bot = await backend.fresh();
    const store = appStoreOver(bot);
    const entry = (key: string, amount: bigint, kind: 'stars' | 'ton' | 'job' | 'refund', stars?: number) =>
      bot.addLedgerEntry({ key, account: 1001, amount, kind, at: NOW * 1000, ...(stars ? { stars } : {}) });
    await entry('ton:1:aa', 1_000_000_000n, 'ton');
    await entry('stars:c1', 100n * RATE, 'stars', 100);
    await entry('stars:c2', 50n * RATE, 'stars', 50);
    expect(await store.account(1001)).toMatchObject({ tonCredit: 1_000_000_000n, starsCredit: 150 });
    await entry('refund:c2', -50n * RATE, 'refund', 50);
    await entry('job:r1:1001', -1_000_000_001n, 'job');
    // The TON credit is gone and one nanoton came out of the Stars credit: 99 whole Stars are left.
    expect(await store.account(1001)).toMatchObject({ tonCredit: RATE - 1n, starsCredit: 99 });
    expect(await bot.balance(1001)).toBe(99n * RATE + RATE - 1n);
    await entry('job:r2:1001', -200n * RATE, 'job');
    expect(await store.account(1001)).toMatchObject({ tonCredit: 0n, starsCredit: 0 });
  });

  it('counts the free quota per UTC day as the bot takes it', async () => {
    const bot = await backend.fresh();
    const store = appStoreOver(bot);
    const midnight = (Math.floor(NOW / 86_400) + 1) * 86_400;
    expect((await store.account(1001)).freeQuota).toEqual({ left: 5, limit: 5, resetsAt: midnight });
    await bot.takeFreeSummary(1001, '2026-09-21', 5);
    await bot.takeFreeSummary(1001, '2026-09-20', 5);
    expect((await store.account(1001)).freeQuota.left).toBe(4);
  });

  it('lists proven jobs only, pages by time, and shows settlements the chain confirmed', async () => {
    const bot = await backend.fresh();
    const demo = await createDemo(NOW, bot);
    const unproven: JobRecord = {
      summaryId: 'plain',
      userId: DEMO_USER.id,
      sourceKind: 'text',
      promptTokens: 10,
      completionTokens: 5,
      cost: 0n,
      paidBy: 'free',
      account: DEMO_USER.id,
      at: NOW * 1000,
    };
    await bot.recordJob(unproven);
    const jobs = await demo.store.jobs(DEMO_USER.id, { limit: 10 });
    expect(jobs.map((job) => job.jobId)).toEqual([demo.validJobId, demo.tamperedJobId]);
    expect(jobs[1]?.source).toEqual({
      kind: 'channel-post',
      chatId: DEMO_CHANNEL_ID,
      messageId: 42,
      channelTitle: 'TON Research',
    });
    expect(jobs[1]?.settlement).toBeUndefined();
    await bot.settleJobs([demo.tamperedJobId], tx(6));
    const [older] = await demo.store.jobs(DEMO_USER.id, { limit: 1, before: jobs[0]?.createdAt ?? 0 });
    expect(older?.jobId).toBe(demo.tamperedJobId);
    expect(older?.settlement).toEqual(tx(6));
  });

  it("shows each active channel's settings and what its sponsor account spent this month", async () => {
    const bot = await backend.fresh();
    const demo = await createDemo(NOW, bot);
    const lastMonth = Date.UTC(2026, 7, 31, 23, 59);
    await bot.addLedgerEntry({
      key: 'job:old',
      account: DEMO_CHANNEL_ID,
      amount: -9n,
      kind: 'job',
      at: lastMonth,
    });
    const channel = await demo.store.channel(DEMO_CHANNEL_ID);
    expect(channel).toMatchObject({ title: 'TON Research', botCanEdit: true, sponsorSpent: 120_000_000n });
    const saved = await demo.store.saveChannelSettings(DEMO_CHANNEL_ID, {
      ...(channel?.settings as NonNullable<typeof channel>['settings']),
      length: 'detailed',
      sponsorBudget: 9_000_000_000n,
    });
    expect(saved.settings).toMatchObject({ length: 'detailed', sponsorBudget: 9_000_000_000n });
    // The bot reads the same settings.
    expect(await bot.getChannel(DEMO_CHANNEL_ID)).toMatchObject({
      length: 'detailed',
      sponsorBudget: 9_000_000_000n,
    });
    const settings = await bot.getChannel(DEMO_CHANNEL_ID);
    if (settings === undefined) throw new Error('the demo channel is gone');
    await bot.saveChannel({ ...settings, active: false });
    expect(await demo.store.channels()).toEqual([]);
    await expect(demo.store.saveChannelSettings(-100_999, saved.settings)).rejects.toThrow(/never been in/);
  });
});

describe.each(['pglite', 'postgres'] as const)('LedgerAppStore over %s after a restart', (backendName) => {
  let backend: BotStoreBackend;
  beforeAll(async () => {
    backend = await openBackend(backendName);
  }, 120_000);
  afterAll(() => backend?.close());

  it('keeps balances, history, top-up intents and channel settings', async () => {
    const demo = await createDemo(NOW, await backend.fresh());
    const intent = {
      queryId: 5n,
      userId: DEMO_USER.id,
      amount: 300_000_000n,
      createdAt: NOW,
      validUntil: NOW + 900,
    };
    await demo.store.saveTopUp(intent);
    await demo.store.saveTopUp({ ...intent, queryId: 6n });
    const credit = { ...tx(7), userId: DEMO_USER.id, queryId: 5n, amount: 290_000_000n };
    await demo.store.recordCredit(credit);
    const channel = await demo.store.channel(DEMO_CHANNEL_ID);
    await demo.store.saveChannelSettings(DEMO_CHANNEL_ID, {
      ...(channel?.settings as NonNullable<typeof channel>['settings']),
      minPostLength: 1234,
    });
    const before = {
      account: await demo.store.account(DEMO_USER.id),
      jobs: await demo.store.jobs(DEMO_USER.id, { limit: 10 }),
      channels: await demo.store.channels(),
      credit: await demo.store.credit(DEMO_USER.id, 5n),
    };
    expect(before.account).toMatchObject({ tonCredit: 2_790_000_000n, starsCredit: 150 });

    const reopened = appStoreOver(await backend.reopen());
    expect(await reopened.account(DEMO_USER.id)).toEqual(before.account);
    expect(await reopened.jobs(DEMO_USER.id, { limit: 10 })).toEqual(before.jobs);
    expect(await reopened.channels()).toEqual(before.channels);
    expect(before.channels[0]?.settings.minPostLength).toBe(1234);
    expect(await reopened.topUp(DEMO_USER.id, 5n)).toEqual(intent);
    expect(await reopened.credit(DEMO_USER.id, 5n)).toEqual(before.credit);
    expect(await reopened.credit(DEMO_USER.id, 6n)).toBeUndefined();
    // The watcher delivers the same transaction again after the restart: nothing changes.
    expect(await reopened.recordCredit(credit)).toBe(false);
    expect((await reopened.account(DEMO_USER.id)).tonCredit).toBe(2_790_000_000n);
    // And the still-pending intent is confirmed by its own transaction.
    expect(await reopened.recordCredit({ ...tx(8), userId: DEMO_USER.id, queryId: 6n, amount: 1n })).toBe(
      true,
    );
    expect((await reopened.credit(DEMO_USER.id, 6n))?.hash).toBe(tx(8).hash);
  });
});
