import {
  type ChatHistoryItem,
  ChatMLChatWrapper,
  type ChatWrapper,
  type LlamaModel,
  resolveChatWrapper,
  type Token,
} from 'node-llama-cpp';
import type { ChatMessage } from './request.js';

/**
 * The chat template for a model: the one in its GGUF (`tokenizer.chat_template`, matched to a
 * node-llama-cpp wrapper or run as Jinja), else ChatML, which is what llama.cpp's server falls back to.
 */
export function chatWrapperFor(model: LlamaModel): ChatWrapper {
  const template = model.fileInfo.metadata.tokenizer?.chat_template;
  if (typeof template === 'string' && template.length > 0) return resolveChatWrapper(model);
  return new ChatMLChatWrapper();
}

/**
 * Messages as node-llama-cpp chat history, ending with the model's turn to answer. A trailing
 * assistant message stays open, so the model continues it (prefill). Message text is plain text:
 * a user cannot smuggle control tokens in by typing their names.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history = messages.map((message): ChatHistoryItem => {
    if (message.role === 'system') return { type: 'system', text: message.content };
    if (message.role === 'user') return { type: 'user', text: message.content };
    return { type: 'model', response: [message.content] };
  });
  if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
  return history;
}

/** Exactly the tokens the model evaluates for this history: the template rendered, then tokenized. */
export function promptTokens(
  model: LlamaModel,
  wrapper: ChatWrapper,
  history: readonly ChatHistoryItem[],
): Token[] {
  return wrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer);
}
