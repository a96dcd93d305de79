import { ClientError, type CocoonClient, receiptId } from '@cocoon/shared';
import { buildSummaryPrompt } from './prompt.js';
import { SummarizeError, type Summarizer, type SummaryRequest, type SummaryResult } from './types.js';

export interface NetworkSummarizerOptions {
  client: CocoonClient;
  /** SHA-256 of the model to use; by default the cheapest model the network serves. */
  model?: string;
}

/**
 * Summaries through the network: the prompt is sealed to an attested worker by the client SDK, which
 * also checks the answer's receipt. Nothing between the bot and the enclave can read the text.
 */
export class NetworkSummarizer implements Summarizer {
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

  private async cheapestModel(): Promise<string> {
    const models = await this.options.client.models().catch((error: unknown) => {
      throw new SummarizeError('unavailable', 'the network cannot be reached', { cause: error });
    });
    const cheapest = [...models].sort((a, b) => Number(a.minPricePerToken - b.minPricePerToken))[0];
    if (cheapest === undefined)
      throw new SummarizeError('unavailable', 'no model is served on the network right now');
    return cheapest.model;
  }
}
