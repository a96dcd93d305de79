import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@cocoon/shared/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '../../../shared/test/support/postgres.js';
import { InMemoryBotStore } from '../../src/store/memory.js';
import { SqlBotStore } from '../../src/store/sql.js';
import type { BotStore, ChannelSettings, JobRecord, StoredSummary } from '../../src/store/types.js';

interface Backend {
  store: BotStore;
  close(): Promise<void>;
}

async function sqlBackend(databaseUrl?: string): Promise<Backend> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cocoon-bot-store-'));
  const store = await openStore({ dataDir, ...(databaseUrl === undefined ? {} : { databaseUrl }) });
  return {
    store: await SqlBotStore.open(store),
    close: async () => {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const backends: [string, () => Promise<Backend>][] = [
  ['memory', async () => ({ store: new InMemoryBotStore(), close: async () => {} })],
  ['pglite', () => sqlBackend()],
  [
    'postgres',
    async () => {
      const server = await startPostgres();
      const backend = await sqlBackend(server.url);
      return {
        store: backend.store,
        close: async () => {
          await backend.close();
          await server.stop();
        },
      };
    },
  ],
];

const channel: ChannelSettings = {
  chatId: -1001234567890,
  title: 'Harbour News',
  enabled: true,
  minPostLength: 500,
  language: 'auto',
  length: 'short',
  payer: 'reader',
  postAsComment: false,
  canEditMessages: true,
  active: true,
};

const summary = (id: string, expiresAt: number): StoredSummary => ({
  id,
  source: { kind: 'channel-post', chatId: -100123, messageId: 7, editDate: 1_764_000_000 },
  language: 'ru',
  length: 'bullets',
  summary: '• Первый пункт\n• <b>second</b> & more',
  createdAt: 1_000,
  expiresAt,
});

const job = (userId: number, at: number, extra: Partial<JobRecord> = {}): JobRecord => ({
  summaryId: `s${at}`,
  userId,
  sourceKind: 'text',
  promptTokens: 120,
  completionTokens: 30,
  cost: 1_500n,
  paidBy: 'credit',
  account: userId,
  at,
  ...extra,
});

describe.each(backends)('BotStore on %s', (_name, open) => {
  let backend: Backend;
  let store: BotStore;
  beforeAll(async () => {
    backend = await open();
    store = backend.store;
  }, 120_000);
  afterAll(() => backend?.close());

  it('keeps channel settings, with and without the optional fields, and replaces them', async () => {
    expect(await store.getChannel(channel.chatId)).toBeUndefined();
    await store.saveChannel(channel);
    expect(await store.getChannel(channel.chatId)).toEqual(channel);
    const changed = { ...channel, payer: 'sponsor' as const, addedBy: 42, rightsWarnedAt: 1_764_000_000_123 };
    await store.saveChannel(changed);
    expect(await store.getChannel(channel.chatId)).toEqual(changed);
  });

  it('keeps user settings', async () => {
    expect(await store.getUserSettings(7)).toBeUndefined();
    await store.saveUserSettings({ userId: 7, language: 'ru', length: 'detailed' });
    await store.saveUserSettings({ userId: 7, language: 'en', length: 'short' });
    expect(await store.getUserSettings(7)).toEqual({ userId: 7, language: 'en', length: 'short' });
  });

  it('returns a summary until it expires, and purges expired ones', async () => {
    const link: StoredSummary = {
      ...summary('link1', 5_000),
      source: { kind: 'link', url: 'https://example.org/a?b=1' },
      title: 'A "title"',
      url: 'https://example.org/a?b=1',
      siteName: 'Example',
      receiptId: 'ab'.repeat(32),
      workerId: 'cd'.repeat(32),
    };
    await store.saveSummary(summary('post1', 2_000));
    await store.saveSummary(link);
    expect(await store.getSummary('post1', 1_999)).toEqual(summary('post1', 2_000));
    expect(await store.getSummary('link1', 1_999)).toEqual(link);
    expect(await store.getSummary('post1', 2_000)).toBeUndefined();
    await store.saveSummary({ ...summary('post1', 9_000), summary: 'replaced' });
    expect((await store.getSummary('post1', 6_000))?.summary).toBe('replaced');
    expect(await store.deleteExpiredSummaries(6_000)).toBe(1);
    expect(await store.getSummary('link1', 0)).toBeUndefined();
    expect(await store.getSummary('post1', 0)).toBeDefined();
  });

  it('adds each ledger entry once and sums an account exactly', async () => {
    const big = 2n ** 70n + 1n; // beyond int8 and float precision
    const user = 1001;
    const entry = {
      key: 'stars:charge-1',
      account: user,
      amount: big,
      kind: 'stars' as const,
      stars: 50,
      at: 1,
    };
    expect(await store.addLedgerEntry(entry)).toBe(true);
    expect(await store.addLedgerEntry({ ...entry, amount: 5n })).toBe(false);
    expect(
      await store.addLedgerEntry({ key: 'ton:9:aa', account: user, amount: 3n, kind: 'ton', at: 2 }),
    ).toBe(true);
    expect(
      await store.addLedgerEntry({ key: 'job:r1:1001', account: user, amount: -4n, kind: 'job', at: 3 }),
    ).toBe(true);
    await store.addLedgerEntry({
      key: 'ton:10:bb',
      account: -1001234567890,
      amount: 77n,
      kind: 'ton',
      at: 4,
    });
    expect(await store.balance(user)).toBe(big - 1n);
    expect(await store.balance(-1001234567890)).toBe(77n);
    expect(await store.balance(999)).toBe(0n);
    expect(await store.ledgerEntry('stars:charge-1')).toEqual(entry);
    expect(await store.ledgerEntry('ton:9:aa')).toEqual({
      key: 'ton:9:aa',
      account: user,
      amount: 3n,
      kind: 'ton',
      at: 2,
    });
    expect(await store.ledgerEntry('stars:none')).toBeUndefined();
  });

  it('credits concurrently once per key', async () => {
    const entry = { key: 'stars:race', account: 2002, amount: 10n, kind: 'stars' as const, stars: 1, at: 1 };
    const added = await Promise.all(Array.from({ length: 8 }, () => store.addLedgerEntry(entry)));
    expect(added.filter(Boolean)).toHaveLength(1);
    expect(await store.balance(2002)).toBe(10n);
  });

  it('gives at most the limit of free summaries per day, even at once', async () => {
    const taken = await Promise.all(
      Array.from({ length: 5 }, () => store.takeFreeSummary(3003, '2026-11-25', 3)),
    );
    expect(taken.filter(Boolean)).toHaveLength(3);
    expect(await store.freeSummariesUsed(3003, '2026-11-25')).toBe(3);
    await store.returnFreeSummary(3003, '2026-11-25');
    expect(await store.takeFreeSummary(3003, '2026-11-25', 3)).toBe(true);
    expect(await store.takeFreeSummary(3003, '2026-11-26', 3)).toBe(true);
    expect(await store.takeFreeSummary(3003, '2026-11-27', 0)).toBe(false);
    await store.returnFreeSummary(3003, '2026-11-28');
    expect(await store.freeSummariesUsed(3003, '2026-11-28')).toBe(0);
  });

  it('lists a user’s recent jobs, newest first', async () => {
    await store.recordJob(job(4004, 10));
    await store.recordJob(
      job(4004, 30, {
        paidBy: 'sponsor',
        account: -1001234567890,
        receiptId: 'ef'.repeat(32),
        workerId: '01'.repeat(32),
        attestationKind: 'tdx',
        cost: 2n ** 66n,
      }),
    );
    await store.recordJob(job(4004, 20, { paidBy: 'free', cost: 0n }));
    await store.recordJob(job(5005, 40));
    const recent = await store.recentJobs(4004, 2);
    expect(recent.map((record) => record.at)).toEqual([30, 20]);
    expect(recent[0]).toEqual(
      job(4004, 30, {
        paidBy: 'sponsor',
        account: -1001234567890,
        receiptId: 'ef'.repeat(32),
        workerId: '01'.repeat(32),
        attestationKind: 'tdx',
        cost: 2n ** 66n,
      }),
    );
    expect(await store.recentJobs(6006, 5)).toEqual([]);
  });

  it('settles every unsettled job up to a Charge of the cumulative total, once, and unsettles a Charge undone', async () => {
    const proven = (at: number, voucherTotal?: bigint): JobRecord =>
      job(7007, at, {
        proof: {
          jobId: at.toString(16).padStart(32, '0'),
          receipt: { boc: `boc${at}`, signature: `sig${at}` },
          attestation: { kind: 'dev' },
          ...(voucherTotal === undefined ? {} : { voucherTotal }),
        },
      });
    const big = 2n ** 66n;
    await store.recordJob(proven(1, 1_000n));
    await store.recordJob(proven(2, big));
    await store.recordJob(proven(3, big + 1n));
    await store.recordJob(proven(4)); // signed before totals were kept: no Charge can name it
    await store.recordJob(job(7007, 5)); // no proof (a fallback summary): never settled
    const first = { lt: '1001', hash: 'a1'.repeat(32) };
    const second = { lt: '1002', hash: 'b2'.repeat(32) };
    const third = { lt: '1003', hash: 'c3'.repeat(32) };
    const settlements = async () =>
      Object.fromEntries(
        (await store.recentJobs(7007, 10)).map((record) => [record.at, record.proof?.settlement]),
      );

    expect(await store.settleJobsUpTo(big, { ...first, queryId: 1n })).toBe(2);
    expect(await store.settleJobsUpTo(big, { ...first, queryId: 1n })).toBe(0); // the watcher replays after a crash
    expect(await settlements()).toEqual({ 1: first, 2: first, 3: undefined, 4: undefined, 5: undefined });
    expect(await store.settleJobsUpTo(big + 10n, { ...second, queryId: 2n })).toBe(1);
    expect(await settlements()).toEqual({ 1: first, 2: first, 3: second, 4: undefined, 5: undefined });
    // The second Charge's payment bounced and the contract undid it: its job is unsettled until a later Charge.
    expect(await store.unsettleCharge(2n)).toBe(1);
    expect(await store.unsettleCharge(2n)).toBe(0);
    expect(await settlements()).toEqual({ 1: first, 2: first, 3: undefined, 4: undefined, 5: undefined });
    expect(await store.settleJobsUpTo(big + 20n, { ...third, queryId: 3n })).toBe(1);
    expect(await settlements()).toEqual({ 1: first, 2: first, 3: third, 4: undefined, 5: undefined });
    const [latest] = await store.recentJobs(7007, 1, { before: 4 });
    expect(latest?.proof?.voucherTotal).toBe(big + 1n);
  });
});
