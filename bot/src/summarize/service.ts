import { createHash } from 'node:crypto';
import { type Clock, systemClock } from '@cocoon/shared';
import type { SummaryOutcome, TelegramMetrics } from '../metrics.js';
import { type Authorization, type Billing, type Payer, PaymentRequiredError } from '../payments/billing.js';
import { estimateSummaryCost } from '../payments/pricing.js';
import type { BotStore, StoredSummary, SummarySource } from '../store/types.js';
import { SummarizeError, type Summarizer, type SummaryLanguage, type SummaryLength } from './types.js';

export interface SummaryJob {
  source: SummarySource;
  text: string;
  title?: string;
  url?: string;
  siteName?: string;
  language: SummaryLanguage;
  length: SummaryLength;
  /** Who pays if the summary has to be made (nobody pays for a stored one). */
  payer: Payer;
}

export interface SummaryServiceOptions {
  clock?: Clock;
  /** Reuse stored summaries (default true). */
  cache?: boolean;
  /** How long a summary is kept for deep links and repeated requests (ms). */
  ttlMs?: number;
  /** Charges jobs to their payers; without it, summaries are free (a private deployment). */
  billing?: Billing;
  /** Counts the outcome of each summary asked of the summarizer (stored ones are not asked). */
  metrics?: TelegramMetrics;
}

const DEFAULT_SUMMARY_TTL_MS = 48 * 60 * 60 * 1000;

/**
 * Runs summaries for the bot: identical requests made while one is running share it, and finished
 * summaries are kept in the store under an id derived from what was summarized, so a repeated request
 * (another reader tapping the same post) is answered from the store.
 */
export class SummaryService {
  private readonly running = new Map<string, Promise<StoredSummary>>();
  private readonly clock: Clock;
  private readonly cache: boolean;
  private readonly ttlMs: number;
  private readonly billing: Billing | undefined;
  private readonly metrics: TelegramMetrics | undefined;

  constructor(
    private readonly store: BotStore,
    private readonly summarizer: Summarizer,
    options: SummaryServiceOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.cache = options.cache ?? true;
    this.ttlMs = options.ttlMs ?? DEFAULT_SUMMARY_TTL_MS;
    this.billing = options.billing;
    this.metrics = options.metrics;
  }

  /** The most a summary of a text this long may cost at the network's price now. */
  async estimate(textLength: number, length: SummaryLength): Promise<bigint> {
    return estimateSummaryCost(textLength, length, await this.summarizer.pricePerToken());
  }

  /** The job's summary if it is stored and may be reused (the operator may turn reuse off). */
  async cached(
    job: Pick<SummaryJob, 'source' | 'language' | 'length' | 'text'>,
  ): Promise<StoredSummary | undefined> {
    return this.cache ? this.stored(SummaryService.summaryId(job)) : undefined;
  }

  /** A stored summary that has not expired. */
  stored(id: string): Promise<StoredSummary | undefined> {
    return this.store.getSummary(id, this.clock.now());
  }

  /**
   * The id of a job's summary: the same post (at the same edit), link or text with the same settings gives
   * the same id. Pasted texts are identified by their hash; the text itself is never stored.
   */
  static summaryId(job: Pick<SummaryJob, 'source' | 'language' | 'length'> & { text?: string }): string {
    const identity =
      job.source.kind === 'text'
        ? {
            ...job.source,
            sha256: createHash('sha256')
              .update(job.text ?? '')
              .digest('hex'),
          }
        : job.source;
    const key = JSON.stringify([identity, job.language, job.length]);
    return createHash('sha256').update(key).digest('base64url').slice(0, 22);
  }

  /** A summary being made now, for a deep link that was handed out before it was ready. */
  inProgress(id: string): Promise<StoredSummary> | undefined {
    return this.running.get(id);
  }

  summarize(job: SummaryJob): Promise<StoredSummary> {
    return this.summarizeOnce(SummaryService.summaryId(job), async () => job);
  }

  /**
   * Makes the summary `id` unless it is stored or being made already; `prepare` runs only then (it may
   * fetch the page a link points to, so a cached link is not fetched again).
   */
  summarizeOnce(id: string, prepare: () => Promise<SummaryJob>): Promise<StoredSummary> {
    const running = this.running.get(id);
    if (running !== undefined) {
      // Joining a job its first requester could not pay for: this requester may, so it tries on its own.
      return running.catch((error: unknown) => {
        if (error instanceof PaymentRequiredError) return this.summarizeOnce(id, prepare);
        throw error;
      });
    }
    const work = this.run(id, prepare).finally(() => this.running.delete(id));
    this.running.set(id, work);
    return work;
  }

  private async run(id: string, prepare: () => Promise<SummaryJob>): Promise<StoredSummary> {
    if (this.cache) {
      const cached = await this.stored(id);
      if (cached !== undefined) return cached;
    }
    const job = await prepare();
    try {
      const summary = await this.make(id, job);
      this.metrics?.summary('done');
      return summary;
    } catch (error) {
      this.metrics?.summary(outcomeOf(error));
      throw error;
    }
  }

  private async make(id: string, job: SummaryJob): Promise<StoredSummary> {
    const authorization = await this.billing?.authorize(
      job.payer,
      await this.estimate(job.text.length, job.length),
    );
    const result = await this.summarizeOrRelease(job, authorization);
    const now = this.clock.now();
    const summary: StoredSummary = {
      id,
      source: job.source,
      language: job.language,
      length: job.length,
      // Postgres text cannot hold NUL, and Telegram refuses it: a model can emit it as a byte token.
      summary: result.summary.replaceAll('\u0000', '').trim(),
      createdAt: now,
      expiresAt: now + this.ttlMs,
      ...(job.title === undefined ? {} : { title: job.title }),
      ...(job.url === undefined ? {} : { url: job.url }),
      ...(job.siteName === undefined ? {} : { siteName: job.siteName }),
      ...(result.receiptId === undefined ? {} : { receiptId: result.receiptId }),
      ...(result.workerId === undefined ? {} : { workerId: result.workerId }),
    };
    await this.store.saveSummary(summary);
    if (authorization !== undefined) {
      await this.billing?.settle(authorization, { summaryId: id, source: job.source }, result);
    }
    return summary;
  }

  private async summarizeOrRelease(job: SummaryJob, authorization: Authorization | undefined) {
    try {
      const result = await this.summarizer.summarize({
        text: job.text,
        ...(job.title === undefined ? {} : { title: job.title }),
        language: job.language,
        length: job.length,
      });
      if (result.summary.trim() === '') throw new SummarizeError('failed', 'the summary came back empty');
      return result;
    } catch (error) {
      if (authorization !== undefined) await this.billing?.release(authorization);
      throw error;
    }
  }
}

const SUMMARIZE_OUTCOMES: Record<SummarizeError['code'], SummaryOutcome> = {
  busy: 'busy',
  unavailable: 'unavailable',
  aborted: 'cancelled',
  failed: 'failed',
};

function outcomeOf(error: unknown): SummaryOutcome {
  if (error instanceof PaymentRequiredError) return 'no_credit';
  return error instanceof SummarizeError ? SUMMARIZE_OUTCOMES[error.code] : 'failed';
}
