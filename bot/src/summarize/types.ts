import { z } from 'zod';
import type { JobProof } from '../store/types.js';

/** How long a summary is: a line or two (fits a 200-character alert), a few bullets, or a few paragraphs. */
export const SummaryLength = z.enum(['short', 'bullets', 'detailed']);
export type SummaryLength = z.output<typeof SummaryLength>;

/** ISO 639-1 code of a fixed summary language, or 'auto' for the language of the text itself. */
export const SummaryLanguage = z.union([
  z.literal('auto'),
  z.string().regex(/^[a-z]{2}$/, 'expected an ISO 639-1 code'),
]);
export type SummaryLanguage = z.output<typeof SummaryLanguage>;

export interface SummaryRequest {
  text: string;
  title?: string;
  language: SummaryLanguage;
  length: SummaryLength;
  signal?: AbortSignal;
}

export interface SummaryUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface SummaryResult {
  summary: string;
  usage: SummaryUsage;
  /** The signed receipt of the job, once summaries run through the network. */
  receiptId?: string;
  /** The worker whose attested enclave served the job. */
  workerId?: string;
  /** How that worker was attested ('tdx'; 'dev' only on test networks). */
  attestationKind?: string;
  /** The receipt's amount in nanotons: what the job cost. */
  cost: bigint;
  /** What lets the user verify the job later: the signed receipt and the worker's attestation bundle. */
  proof?: JobProof;
}

/**
 * Turns a text into a summary. The production implementation seals the prompt from `buildSummaryPrompt`
 * to an attested worker through the client SDK; tests use `FakeSummarizer`.
 */
export interface Summarizer {
  summarize(request: SummaryRequest): Promise<SummaryResult>;
  /** Nanotons per token the network asks now, for the price shown before a job. */
  pricePerToken(): Promise<bigint>;
}

export class SummarizeError extends Error {
  override readonly name = 'SummarizeError';
  constructor(
    /** busy: the network (or the bot's queue for it) is full; try again later. */
    readonly code: 'busy' | 'unavailable' | 'aborted' | 'failed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
