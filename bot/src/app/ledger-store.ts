import { type Clock, systemClock } from '@cocoon/shared';
import type { ChannelSettingsInput, HistoryJob, JobSource } from '@cocoon/shared/protocol/app-api';
import { z } from 'zod';
import { Billing, creditTonTopUp, sponsorSpentThisMonth } from '../payments/billing.js';
import type { BotStore, ChannelSettings, JobRecord } from '../store/types.js';
import type {
  AppAccount,
  AppChannelRecord,
  AppStore,
  ChainCredit,
  StoredTopUp,
  TopUpCredit,
} from './store.js';

export interface LedgerAppStoreOptions {
  /** The bot's `freeDailySummaries`. */
  freeDailySummaries: number;
  /** The bot's `nanotonsPerStar`: what one Star credits. */
  nanotonsPerStar: bigint;
  clock?: Clock;
}

/** What a ChainCredit must be to credit anyone: a positive amount to a Telegram user id. */
export const ChainCreditInput = z.object({
  lt: z.string().regex(/^\d{1,20}$/, 'expected a logical time in decimal'),
  hash: z.string().regex(/^[0-9a-f]{64}$/, 'expected a 32-byte lowercase hex hash'),
  userId: z.number().int().positive(),
  queryId: z.bigint().nonnegative(),
  amount: z.bigint().positive(),
}) satisfies z.ZodType<ChainCredit>;

const DAY_MS = 86_400_000;
/** The bot's ledger key of a TON top-up (as `creditTonTopUp` writes it). */
const TON_CREDIT_KEY = /^ton:(\d+):([0-9a-f]{64})$/;

export class UnknownChannelError extends Error {
  override readonly name = 'UnknownChannelError';
  constructor(readonly chatId: number) {
    super(`the bot has never been in channel ${chatId}`);
  }
}

/**
 * The Mini App's AppStore over the bot's BotStore: one ledger (balances, the `ton:<lt>:<hash>` and
 * `stars:<charge id>` credits, job debits), the bot's job records and channel settings. Over SqlBotStore
 * it persists in the bot's database; over InMemoryBotStore it lives as long as the process.
 */
export class LedgerAppStore implements AppStore {
  private readonly clock: Clock;
  private readonly billing: Billing;

  constructor(
    private readonly store: BotStore,
    private readonly options: LedgerAppStoreOptions,
  ) {
    if (options.nanotonsPerStar <= 0n) throw new RangeError('nanotonsPerStar must be positive');
    this.clock = options.clock ?? systemClock;
    this.billing = new Billing(store, { freeDailySummaries: options.freeDailySummaries, clock: this.clock });
  }

  /**
   * The ledger balance split by origin. Credit bought with Stars is spent last: it counts as Stars credit
   * while the balance covers it, and jobs paid from credit show as paid with TON credit.
   */
  async account(userId: number): Promise<AppAccount> {
    const [totals, left] = await Promise.all([
      this.store.ledgerTotals(userId),
      this.billing.freeLeft(userId),
    ]);
    const balance = totals.stars + totals.ton + totals.job + totals.refund;
    const rate = this.options.nanotonsPerStar;
    const starsPaid = totals.stars + totals.refund;
    // biome-ignore lint/complexity/useMathMinMax: Math.min takes no bigints
    const starsCovered = starsPaid < balance ? starsPaid : balance;
    const starsCredit = starsCovered > 0n ? starsCovered / rate : 0n;
    const tonCredit = balance - starsCredit * rate;
    return {
      tonCredit: tonCredit > 0n ? tonCredit : 0n,
      starsCredit: Number(starsCredit),
      freeQuota: {
        left,
        limit: this.options.freeDailySummaries,
        resetsAt: (Math.floor(this.clock.now() / DAY_MS) + 1) * (DAY_MS / 1000),
      },
    };
  }

  /** Jobs with a proof (signed receipt and attestation) and a known source; others cannot be verified. */
  async jobs(userId: number, page: { limit: number; before?: number }): Promise<HistoryJob[]> {
    const records = await this.store.recentJobs(userId, page.limit, {
      proven: true,
      ...(page.before === undefined ? {} : { before: page.before * 1000 }),
    });
    const titles = new Map<number, string | undefined>();
    const channelTitle = async (chatId: number) => {
      if (!titles.has(chatId)) titles.set(chatId, (await this.store.getChannel(chatId))?.title);
      return titles.get(chatId);
    };
    const jobs: HistoryJob[] = [];
    for (const record of records) {
      const job = await historyJobOf(record, channelTitle);
      if (job !== undefined) jobs.push(job);
    }
    return jobs;
  }

  async saveTopUp(topUp: StoredTopUp): Promise<void> {
    await this.store.saveTopUpIntent(topUp);
  }

  async topUp(userId: number, queryId: bigint): Promise<StoredTopUp | undefined> {
    const intent = await this.store.topUpIntent(userId, queryId);
    if (intent === undefined) return undefined;
    return {
      queryId: intent.queryId,
      userId: intent.userId,
      amount: intent.amount,
      createdAt: intent.createdAt,
      validUntil: intent.validUntil,
    };
  }

  async credit(userId: number, queryId: bigint): Promise<TopUpCredit | undefined> {
    const key = (await this.store.topUpIntent(userId, queryId))?.creditKey;
    const entry = key === undefined ? undefined : await this.store.ledgerEntry(key);
    const match = key === undefined ? null : TON_CREDIT_KEY.exec(key);
    if (entry === undefined || match?.[1] === undefined || match[2] === undefined) return undefined;
    return { lt: match[1], hash: match[2], amount: entry.amount, at: Math.floor(entry.at / 1000) };
  }

  /**
   * The chain watcher's write: credits the user's ledger once per (lt, hash), under the same key as the
   * bot's `creditTonTopUp`, and confirms the top-up intent with this query id. Returns whether the credit
   * is new; calling it again for the same transaction (after a crash) changes nothing.
   */
  async recordCredit(credit: ChainCredit): Promise<boolean> {
    const { lt, hash, userId, queryId, amount } = ChainCreditInput.parse(credit);
    const added = await creditTonTopUp(this.store, { userId, amount, lt: BigInt(lt), hash }, this.clock);
    await this.store.linkTopUpCredit(userId, queryId, `ton:${lt}:${hash}`);
    return added;
  }

  async channels(): Promise<AppChannelRecord[]> {
    return Promise.all((await this.store.activeChannels()).map((channel) => this.channelRecord(channel)));
  }

  async channel(chatId: number): Promise<AppChannelRecord | undefined> {
    const channel = await this.store.getChannel(chatId);
    return channel === undefined ? undefined : this.channelRecord(channel);
  }

  async saveChannelSettings(chatId: number, settings: ChannelSettingsInput): Promise<AppChannelRecord> {
    const channel = await this.store.getChannel(chatId);
    if (channel === undefined) throw new UnknownChannelError(chatId);
    const updated: ChannelSettings = { ...channel, ...settings };
    await this.store.saveChannel(updated);
    return this.channelRecord(updated);
  }

  private async channelRecord(channel: ChannelSettings): Promise<AppChannelRecord> {
    const spent = await sponsorSpentThisMonth(this.store, channel.chatId, this.clock);
    return {
      chatId: channel.chatId,
      title: channel.title,
      active: channel.active,
      botCanEdit: channel.canEditMessages,
      settings: {
        enabled: channel.enabled,
        minPostLength: channel.minPostLength,
        language: channel.language,
        length: channel.length,
        payer: channel.payer,
        postAsComment: channel.postAsComment,
        sponsorBudget: channel.sponsorBudget ?? 0n,
      },
      sponsorSpent: spent > 0n ? spent : 0n,
    };
  }
}

/** How a job's payer shows in the app. */
export const PAID_WITH = { free: 'free', credit: 'ton', sponsor: 'sponsor' } as const;

async function historyJobOf(
  record: JobRecord,
  channelTitle: (chatId: number) => Promise<string | undefined>,
): Promise<HistoryJob | undefined> {
  const { proof, source, workerId } = record;
  if (proof === undefined || source === undefined || workerId === undefined) return undefined;
  let jobSource: JobSource;
  if (source.kind === 'channel-post') {
    const title = await channelTitle(source.chatId);
    jobSource = {
      kind: 'channel-post',
      chatId: source.chatId,
      messageId: source.messageId,
      ...(title === undefined ? {} : { channelTitle: title }),
    };
  } else {
    jobSource = source.kind === 'link' ? { kind: 'link', url: source.url } : { kind: 'text' };
  }
  return {
    jobId: proof.jobId,
    createdAt: Math.floor(record.at / 1000),
    source: jobSource,
    promptTokens: record.promptTokens,
    completionTokens: record.completionTokens,
    cost: record.cost,
    paidWith: PAID_WITH[record.paidBy],
    workerId,
    receipt: proof.receipt,
    attestation: proof.attestation,
    ...(proof.settlement === undefined ? {} : { settlement: proof.settlement }),
  };
}
