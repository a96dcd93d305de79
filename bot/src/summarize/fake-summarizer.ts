import { setTimeout as sleep } from 'node:timers/promises';
import { jobCost } from '@cocoon/shared';
import { buildSummaryPrompt } from './prompt.js';
import { SummarizeError, type Summarizer, type SummaryRequest, type SummaryResult } from './types.js';

const FAKE_PRICE_PER_TOKEN = 1_000n;

/**
 * A FAKE summarizer for tests and for running the bot before the network exists: no model, no network.
 * It builds the real prompt (so its limits apply) and answers deterministically with the first sentences
 * of the text, shaped like the requested length.
 */
export class FakeSummarizer implements Summarizer {
  /** Every request, in order (tests read them; nothing else keeps texts). */
  readonly requests: Omit<SummaryRequest, 'signal'>[] = [];
  private failures: Error[] = [];

  /** `pricePerToken`: the nanotons per token it "charges" (1000 unless set), so costs and debits are testable. */
  constructor(private readonly options: { delayMs?: number; pricePerToken?: bigint } = {}) {}

  async pricePerToken(): Promise<bigint> {
    return this.options.pricePerToken ?? FAKE_PRICE_PER_TOKEN;
  }

  /** The next call fails with this error. */
  failNext(error: Error = new SummarizeError('unavailable', 'no worker is available')): void {
    this.failures.push(error);
  }

  async summarize({ signal, ...request }: SummaryRequest): Promise<SummaryResult> {
    this.requests.push(request);
    const prompt = buildSummaryPrompt(request);
    if (this.options.delayMs !== undefined) {
      await sleep(this.options.delayMs, undefined, { signal }).catch((error: unknown) => {
        throw new SummarizeError('aborted', 'the summary was cancelled', { cause: error });
      });
    }
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
    const sentences =
      prompt.messages
        .at(-1)
        ?.content.replace(/^[\s\S]*?<text>\n|\n<\/text>$/g, '')
        .split(/(?<=[.!?…])\s+|\n+/)
        .map((sentence) => sentence.trim())
        .filter((sentence) => sentence !== '' && !sentence.startsWith('•')) ?? [];
    const summary = shape(sentences, request.length);
    const promptChars = prompt.messages.reduce((total, message) => total + message.content.length, 0);
    const usage = {
      promptTokens: Math.ceil(promptChars / 4),
      completionTokens: Math.ceil(summary.length / 4),
    };
    const pricePerToken = await this.pricePerToken();
    return {
      summary,
      usage,
      cost: jobCost(usage, { pricePerToken, promptMultiplier: 10_000, completionMultiplier: 10_000 }),
    };
  }
}

function clip(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const cut = text.slice(0, limit - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > limit / 2 ? cut.slice(0, space) : cut}…`;
}

function shape(sentences: string[], length: SummaryRequest['length']): string {
  switch (length) {
    case 'short':
      return clip(sentences.slice(0, 2).join(' '), 180);
    case 'bullets':
      return sentences
        .slice(0, 4)
        .map((sentence) => `• ${clip(sentence, 160)}`)
        .join('\n');
    case 'detailed':
      return [sentences.slice(0, 4).join(' '), sentences.slice(4, 8).join(' ')]
        .filter((paragraph) => paragraph !== '')
        .join('\n\n');
  }
}
