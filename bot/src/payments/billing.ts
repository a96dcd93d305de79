import { type Clock, systemClock } from '@cocoon/shared';
import { z } from 'zod';
import type { BotStore, JobPayer, SummarySource } from '../store/types.js';
import type { SummaryResult } from '../summarize/types.js';

/** Who is asked to pay for a job: the user who asked, or first the sponsor budget of a channel. */
export interface Payer {
  userId: number;
  /** The chat id of a channel whose sponsor budget pays (falling back to the user when it runs out). */
  sponsorChannel?: number;
}

/** How a job about to run will be paid; settled with the receipt's amount, or released when the job fails. */
export interface Authorization {
  payer: Payer;
  paidBy: JobPayer;
  /** The ledger account debited (the user, or the sponsoring channel); none for a free summary. */
  account: number;
  /** The UTC day whose free summary it used. */
  day: string;
}

export type PaymentRequiredReason = 'no_credit';

/** The user has no free summary left today and too little credit for the job's estimate. */
export class PaymentRequiredError extends Error {
  override readonly name = 'PaymentRequiredError';
  constructor(
    readonly estimate: bigint,
    readonly balance: bigint,
    readonly freeDailySummaries: number,
  ) {
    super('no free summary left today and too little credit for this summary');
  }
}

const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The ledger side of jobs: who pays, and the debit of each job's receipt amount. Balances are checked
 * against the job's estimate before it runs; jobs running at once for one account may overdraw it by at
 * most their receipts, which the next top-up covers.
 */
/** What a channel's readers spent from its sponsor account this calendar month (UTC), in nanotons. */
export async function sponsorSpentThisMonth(store: BotStore, chatId: number, clock: Clock): Promise<bigint> {
  const now = new Date(clock.now());
  const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  return -(await store.ledgerTotals(chatId, monthStart)).job;
}

export class Billing {
  private readonly clock: Clock;

  constructor(
    private readonly store: BotStore,
    private readonly options: { freeDailySummaries: number; clock?: Clock },
  ) {
    this.clock = options.clock ?? systemClock;
  }

  today(): string {
    return utcDay(this.clock.now());
  }

  /** Free summaries left to the user today. */
  async freeLeft(userId: number): Promise<number> {
    const used = await this.store.freeSummariesUsed(userId, this.today());
    return Math.max(0, this.options.freeDailySummaries - used);
  }

  /** The sponsor pays when its account covers the job and the month's spending stays within its budget. */
  private async sponsorCovers(chatId: number, estimate: bigint): Promise<boolean> {
    if ((await this.store.balance(chatId)) < estimate) return false;
    const budget = (await this.store.getChannel(chatId))?.sponsorBudget;
    return (
      budget === undefined ||
      (await sponsorSpentThisMonth(this.store, chatId, this.clock)) + estimate <= budget
    );
  }

  async authorize(payer: Payer, estimate: bigint): Promise<Authorization> {
    const day = this.today();
    if (payer.sponsorChannel !== undefined && (await this.sponsorCovers(payer.sponsorChannel, estimate))) {
      return { payer, paidBy: 'sponsor', account: payer.sponsorChannel, day };
    }
    if (await this.store.takeFreeSummary(payer.userId, day, this.options.freeDailySummaries)) {
      return { payer, paidBy: 'free', account: payer.userId, day };
    }
    const balance = await this.store.balance(payer.userId);
    if (balance >= estimate) return { payer, paidBy: 'credit', account: payer.userId, day };
    throw new PaymentRequiredError(estimate, balance, this.options.freeDailySummaries);
  }

  /** The job failed: a free summary taken for it is given back. */
  async release(authorization: Authorization): Promise<void> {
    if (authorization.paidBy === 'free') {
      await this.store.returnFreeSummary(authorization.payer.userId, authorization.day);
    }
  }

  /** Debits the receipt's amount (once per receipt and account) and records the job for /history. */
  async settle(
    authorization: Authorization,
    job: { summaryId: string; source: SummarySource },
    result: SummaryResult,
  ): Promise<void> {
    const at = this.clock.now();
    const charged = authorization.paidBy !== 'free' && result.cost > 0n;
    if (charged) {
      await this.store.addLedgerEntry({
        key: `job:${result.receiptId ?? `${job.summaryId}@${at}`}:${authorization.account}`,
        account: authorization.account,
        amount: -result.cost,
        kind: 'job',
        at,
      });
    }
    await this.store.recordJob({
      summaryId: job.summaryId,
      userId: authorization.payer.userId,
      sourceKind: job.source.kind,
      source: job.source,
      promptTokens: result.usage.promptTokens,
      completionTokens: result.usage.completionTokens,
      cost: result.cost,
      paidBy: authorization.paidBy,
      account: authorization.account,
      at,
      ...(result.receiptId === undefined ? {} : { receiptId: result.receiptId }),
      ...(result.workerId === undefined ? {} : { workerId: result.workerId }),
      ...(result.attestationKind === undefined ? {} : { attestationKind: result.attestationKind }),
      ...(result.proof === undefined ? {} : { proof: result.proof }),
    });
  }
}

/** A TopUp the chain watcher saw on the client contract for a Telegram user. */
export const TonTopUp = z.object({
  userId: z.number().int().positive(),
  /** Nanotons credited. */
  amount: z.bigint().positive(),
  /** The transaction's logical time and hash: together they credit it once. */
  lt: z.bigint().nonnegative(),
  hash: z.string().regex(/^[0-9a-f]{64}$/, 'expected a 32-byte lowercase hex hash'),
});
export type TonTopUp = z.input<typeof TonTopUp>;

/** Credits a TON top-up once per (lt, hash); returns whether it was new. The chain watcher calls it. */
export async function creditTonTopUp(
  store: BotStore,
  topUp: TonTopUp,
  clock: Clock = systemClock,
): Promise<boolean> {
  const { userId, amount, lt, hash } = TonTopUp.parse(topUp);
  return store.addLedgerEntry({
    key: `ton:${lt}:${hash}`,
    account: userId,
    amount,
    kind: 'ton',
    at: clock.now(),
  });
}
