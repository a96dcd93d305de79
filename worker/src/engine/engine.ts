import type { ChatRequest } from './request.js';

/**
 * The inference core of a worker: the models it serves and a way to run a chat request on one.
 * `LlamaEngine` runs llama.cpp; `FakeEngine` (in `@cocoon/worker/testing`) is a stand-in for tests.
 */
export interface Engine {
  /** `cpu`, `cuda`, `vulkan` or `metal`: what llama.cpp computes on. */
  readonly gpu: string;
  readonly models: readonly EngineModel[];
  /** The model with this id; throws `EngineError('unknown_model')` otherwise. */
  model(id: string): EngineModel;
  /** Waits for running jobs to end, then frees the models. */
  close(): Promise<void>;
}

export interface EngineModel {
  /** Lowercase hex SHA-256 of the GGUF file. */
  readonly id: string;
  readonly name: string;
  /** Multiplier of the network's token price for this model, in ten-thousandths (10_000 = 1×). */
  readonly priceCoefficient: number;
  /** Tokens one job can hold: prompt plus answer. */
  readonly contextSize: number;
  /** Jobs that run at once; more wait for a free slot. */
  readonly parallelJobs: number;
  readonly activeJobs: number;
  /** Name of the chat template that turns messages into the prompt. */
  readonly chatTemplate: string;
  generate(request: ChatRequest, options?: GenerateOptions): Promise<Generation>;
}

export interface GenerateOptions {
  /** Abort to cancel: the job ends soon after with finishReason `cancelled` and the text so far. */
  signal?: AbortSignal;
  /** Each piece of answer text as soon as it is final (stop sequences are never emitted). */
  onText?: (text: string) => void;
  /** A hard cap on generated tokens on top of the request's own (e.g. the job header's maxTokens). */
  maxTokens?: number;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

/** What the model processed; both are 0 for a job cancelled before it started. */
export interface Usage {
  /** Tokens of the prompt as the model's tokenizer renders the chat template. */
  promptTokens: number;
  /** Tokens of the returned text (the end-of-generation token and a matched stop sequence excluded). */
  completionTokens: number;
}

export interface Generation {
  /** The whole answer: exactly the concatenation of the `onText` pieces. */
  text: string;
  usage: Usage;
  finishReason: FinishReason;
}

export type EngineErrorCode =
  | 'invalid_request'
  | 'unknown_model'
  | 'prompt_too_long'
  | 'gpu_unavailable'
  | 'generation_failed'
  | 'closed';

/** Engine failures. Messages never contain prompt or answer text, so they are safe to log. */
export class EngineError extends Error {
  override readonly name = 'EngineError';

  constructor(
    readonly code: EngineErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
