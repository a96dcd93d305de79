import { z } from 'zod';
import { TokenCount } from './primitives.js';

/**
 * The plaintext of a sealed job: an OpenAI-style chat request. Only the client and the enclave ever see it.
 * Field names follow OpenAI's so the gateway passes requests through unchanged.
 */
export const ChatMessage = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
});
export type ChatMessage = z.output<typeof ChatMessage>;

export const ResponseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({ name: z.string().optional(), schema: z.record(z.string(), z.unknown()) }),
  }),
]);

export const ChatRequest = z.object({
  messages: z.array(ChatMessage).min(1),
  max_tokens: TokenCount.min(1).optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().nonnegative().optional(),
  seed: z.number().int().nonnegative().optional(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).optional(),
  response_format: ResponseFormat.optional(),
});
export type ChatRequest = z.output<typeof ChatRequest>;

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
