// The request schema is shared with clients (they build it); the sampling defaults are the engine's own.
export {
  ChatMessage,
  ChatRequest,
  type ChatRequestInput,
  ResponseFormat,
  stopSequences,
} from '@cocoon/shared';

/** Sampling when the request leaves it out: llama.cpp server's defaults. */
export const DEFAULT_SAMPLING = { temperature: 0.8, top_p: 0.95, top_k: 40 } as const;
