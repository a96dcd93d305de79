import { ClientError, type CocoonClient, receiptId } from '@cocoon/shared';
import { buildSummaryPrompt } from './prompt.js';
import { SummarizeError, type Summarizer, type SummaryRequest, type SummaryResult } from './types.js';

export interface NetworkSummarizerOptions {
  client: CocoonClient;
  /** SHA-256 of the model to use; by default the cheapest model the network serves. */
  model?: string;
}

const LISTINGS_TTL_MS = 30_000;
type ModelListings = Awaited<ReturnType<CocoonClient['models']>>;

/**
 * Summaries through the network: the prompt is sealed to an attested worker by the client SDK, which
 * also checks the answer's receipt. Nothing between the bot and the enclave can read the text.
 */
export class NetworkSummarizer implements Summarizer {
  private cachedListings: { at: number; listings: Promise<ModelListings> } | undefined;

  constructor(private readonly options: NetworkSummarizerOptions) {}

  async summarize({ signal, ...request }: SummaryRequest): Promise<SummaryResult> {
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
        },
      };
    } catch (error) {
      if (signal?.aborted) throw new SummarizeError('aborted', 'the summary was cancelled', { cause: error });
      if (
        error instanceof ClientError &&
        (error.code === 'no_verified_worker' || error.detail?.status === 429)
      ) {
        throw new SummarizeError('unavailable', 'no attested worker can take the job right now', {
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
