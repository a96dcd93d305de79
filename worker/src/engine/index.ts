export { chatWrapperFor, promptTokens, toChatHistory } from './chat-prompt.js';
export type {
  Engine,
  EngineErrorCode,
  EngineModel,
  FinishReason,
  GenerateOptions,
  Generation,
  Usage,
} from './engine.js';
export { EngineError } from './engine.js';
export {
  EXTRACTIVE_MODEL_ID,
  EXTRACTIVE_MODEL_NAME,
  ExtractiveEngine,
  ExtractiveEngineModel,
  ExtractiveEngineOptions,
} from './extractive-engine.js';
export type { GpuChoice } from './llama-engine.js';
export {
  LlamaEngine,
  LlamaEngineModel,
  LlamaEngineOptions,
  loadLlama,
  ModelSpec,
} from './llama-engine.js';
export type { ChatRequestInput } from './request.js';
export { ChatMessage, ChatRequest, DEFAULT_SAMPLING, ResponseFormat } from './request.js';
