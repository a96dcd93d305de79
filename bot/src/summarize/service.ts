import { createHash } from 'node:crypto';
import { type Clock, systemClock } from '@cocoon/shared';
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
}

/**
 * Runs summaries for the bot: identical requests made while one is running share it, and finished
 * summaries are kept in the store under an id derived from what was summarized, so a repeated request
 * (another reader tapping the same post) is answered from the store.
 */
export class SummaryService {
  private readonly running = new Map<string, Promise<StoredSummary>>();
  private readonly clock: Clock;
  private readonly cache: boolean;

  constructor(
    private readonly store: BotStore,
    private readonly summarizer: Summarizer,
    options: { clock?: Clock; cache?: boolean } = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.cache = options.cache ?? true;
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
    if (running !== undefined) return running;
    const work = this.run(id, prepare).finally(() => this.running.delete(id));
    this.running.set(id, work);
    return work;
  }

  private async run(id: string, prepare: () => Promise<SummaryJob>): Promise<StoredSummary> {
    if (this.cache) {
      const cached = await this.store.getSummary(id);
      if (cached !== undefined) return cached;
    }
    const job = await prepare();
    const result = await this.summarizer.summarize({
      text: job.text,
      ...(job.title === undefined ? {} : { title: job.title }),
      language: job.language,
      length: job.length,
    });
    if (result.summary.trim() === '') throw new SummarizeError('failed', 'the summary came back empty');
    const summary: StoredSummary = {
      id,
      source: job.source,
      language: job.language,
      length: job.length,
      summary: result.summary.trim(),
      createdAt: this.clock.now(),
      ...(job.title === undefined ? {} : { title: job.title }),
      ...(job.url === undefined ? {} : { url: job.url }),
      ...(job.siteName === undefined ? {} : { siteName: job.siteName }),
      ...(result.receiptId === undefined ? {} : { receiptId: result.receiptId }),
      ...(result.workerId === undefined ? {} : { workerId: result.workerId }),
    };
    await this.store.saveSummary(summary);
    return summary;
  }
}
