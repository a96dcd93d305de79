import { ClientError, type CocoonClient, receiptId } from '@cocoon/shared';
import pLimit, { type LimitFunction } from 'p-limit';
import { buildSummaryPrompt } from './prompt.js';
import { SummarizeError, type Summarizer, type SummaryRequest, type SummaryResult } from './types.js';

export interface NetworkSummarizerOptions {
  client: CocoonClient;
  /** SHA-256 of the model to use; by default the cheapest model the network serves. */
  model?: string;
  /**
   * Jobs sent at once. The bot is one client account for all its users, and the proxy refuses a client's
   * jobs beyond its per-client limit (16 by default), so more are queued here instead of being refused there.
   */
  maxConcurrentJobs?: number;
  /** Jobs waiting for a turn; beyond them a summary is refused at once as busy, so waits stay bounded. */
  maxQueuedJobs?: number;
}

const DEFAULT_MAX_CONCURRENT_JOBS = 16;
const DEFAULT_MAX_QUEUED_JOBS = 256;

const LISTINGS_TTL_MS = 30_000;
type ModelListings = Awaited<ReturnType<CocoonClient['models']>>;

/**
 * Summaries through the network: the prompt is sealed to an attested worker by the client SDK, which
 * also checks the answer's receipt. Nothing between the bot and the enclave can read the text.
 */
export class NetworkSummarizer implements Summarizer {
  private cachedListings: { at: number; listings: Promise<ModelListings> } | undefined;
  private readonly limit: LimitFunction;
  private readonly maxQueuedJobs: number;

  constructor(private readonly options: NetworkSummarizerOptions) {
    this.limit = pLimit(options.maxConcurrentJobs ?? DEFAULT_MAX_CONCURRENT_JOBS);
    this.maxQueuedJobs = options.maxQueuedJobs ?? DEFAULT_MAX_QUEUED_JOBS;
  }

  summarize(request: SummaryRequest): Promise<SummaryResult> {
    if (this.limit.pendingCount >= this.maxQueuedJobs) {
      return Promise.reject(new SummarizeError('busy', 'too many summaries are waiting for the network'));
    }
    return this.limit(() => this.run(request));
  }

  /** Jobs on the network now and jobs waiting for a turn. */
  queue(): { active: number; pending: number } {
    return { active: this.limit.activeCount, pending: this.limit.pendingCount };
  }

  private async run({ signal, ...request }: SummaryRequest): Promise<SummaryResult> {
    if (signal?.aborted) throw new SummarizeError('aborted', 'the summary was cancelled');
    const model = this.options.model ?? (await this.cheapestModel());
    try {
      const result = await this.options.client.chat(buildSummaryPrompt(request), {
        model,
        ...(signal ? { signal } : {}),
      });
      return {
        summary: result.text.trim(),
        usage: result.usage,
        receiptId: receiptId(result.receipt),
        workerId: result.worker.workerId,
        attestationKind: result.worker.attestation.kind,
        cost: result.receipt.amount,
        proof: {
          jobId: result.receipt.jobId,
          receipt: result.signedReceipt,
          attestation: result.worker.bundle,
          ...(result.voucher === undefined ? {} : { voucherTotal: result.voucher.total }),
        },
      };
    } catch (error) {
      if (signal?.aborted) throw new SummarizeError('aborted', 'the summary was cancelled', { cause: error });
      if (error instanceof ClientError && error.detail?.status === 429) {
        throw new SummarizeError('busy', 'the network is busy', { cause: error });
      }
      if (error instanceof ClientError && error.code === 'no_verified_worker') {
        throw new SummarizeError('unavailable', 'no attested worker can take the job right now', {
          cause: error,
        });
      }
      if (error instanceof ClientError && error.code === 'no_affordable_worker') {
        throw new SummarizeError('unavailable', 'no worker serves the model within the price limit', {
          cause: error,
        });
      }
      throw new SummarizeError('failed', 'the summary could not be made', { cause: error });
    }
  }

  async pricePerToken(): Promise<bigint> {
    const listings = await this.listings();
    const listing =
      this.options.model === undefined
        ? cheapest(listings)
        : listings.find((candidate) => candidate.model === this.options.model);
    if (listing === undefined) throw new SummarizeError('unavailable', 'the model is not served right now');
    return listing.minPricePerToken;
  }

  /** The network's model listings, fetched at most every LISTINGS_TTL_MS (each job asks for its price and model). */
  private listings(): Promise<ModelListings> {
    const now = performance.now();
    if (this.cachedListings !== undefined && now - this.cachedListings.at < LISTINGS_TTL_MS) {
      return this.cachedListings.listings;
    }
    const listings = this.options.client.models().catch((error: unknown) => {
      if (this.cachedListings?.listings === listings) this.cachedListings = undefined;
      throw new SummarizeError('unavailable', 'the network cannot be reached', { cause: error });
    });
    this.cachedListings = { at: now, listings };
    return listings;
  }

  private async cheapestModel(): Promise<string> {
    const listing = cheapest(await this.listings());
    if (listing === undefined)
      throw new SummarizeError('unavailable', 'no model is served on the network right now');
    return listing.model;
  }
}

const cheapest = <T extends { minPricePerToken: bigint }>(listings: T[]): T | undefined =>
  [...listings].sort((a, b) => (a.minPricePerToken < b.minPricePerToken ? -1 : 1))[0];
