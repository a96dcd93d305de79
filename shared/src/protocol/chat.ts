import { z } from 'zod';
import { TokenCount } from './primitives.js';

/**
 * The plaintext of a sealed job: an OpenAI-style chat request. Only the client and the enclave ever see it.
 * Transport fields (`model`, `stream`) travel in the job header instead, and unknown fields are dropped,
 * as OpenAI-compatible servers do.
 */
export const ChatMessage = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().max(4_000_000),
});
export type ChatMessage = z.output<typeof ChatMessage>;

const JsonSchemaObject = z.record(z.string(), z.unknown());

export const ResponseFormat = z.union([
  z.object({ type: z.literal('text') }),
  /** Any JSON value. */
  z.object({ type: z.literal('json_object') }),
  z.object({ type: z.literal('json_schema'), schema: JsonSchemaObject }),
  // OpenAI's own shape, normalised to the one above.
  z
    .object({ type: z.literal('json_schema'), json_schema: z.object({ schema: JsonSchemaObject }) })
    .transform(({ json_schema }) => ({ type: 'json_schema' as const, schema: json_schema.schema })),
]);
export type ResponseFormat = z.output<typeof ResponseFormat>;

export const ChatRequest = z.object({
  messages: z.array(ChatMessage).min(1).max(4096),
  /** Most tokens to generate; the job header's maxTokens and the context also bound it. */
  max_tokens: z.number().int().min(1).max(0xffffffff).optional(),
  /** 0 = greedy. Default {@link DEFAULT_SAMPLING}. */
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  /** 0 = the whole vocabulary. */
  top_k: z.number().int().min(0).max(1_000_000).optional(),
  /** Same seed, same settings, same model: same tokens. */
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  stop: z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(4)]).optional(),
  /**
   * Constrains the answer with a grammar. Raw GBNF is deliberately not accepted: llama.cpp logs the
   * source of a grammar it cannot parse, and request content must never reach a log.
   */
  response_format: ResponseFormat.optional(),
});
export type ChatRequest = z.output<typeof ChatRequest>;
/** What a client writes (before defaults and normalisation). */
export type ChatRequestInput = z.input<typeof ChatRequest>;

export function stopSequences(request: ChatRequest): string[] {
  if (request.stop === undefined) return [];
  return typeof request.stop === 'string' ? [request.stop] : request.stop;
}

export const FinishReason = z.enum(['stop', 'length', 'cancelled', 'error']);
export type FinishReason = z.output<typeof FinishReason>;

/** What the sealed answer chunks carry, in order: text pieces, then exactly one end or error. */
export const AnswerEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({
    type: z.literal('end'),
    finishReason: FinishReason,
    usage: z.object({ promptTokens: TokenCount, completionTokens: TokenCount }),
  }),
  /** Errors for the client travel sealed, so their text may name details of the job. */
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type AnswerEvent = z.output<typeof AnswerEvent>;
