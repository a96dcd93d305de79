import { describe, expect, it } from 'vitest';
import { ChatRequest, stopSequences } from '../../src/protocol/chat.js';

describe('ChatRequest', () => {
  it('accepts an OpenAI-style body and drops transport fields', () => {
    const request = ChatRequest.parse({
      model: 'ignored: the job header names the model',
      stream: true,
      messages: [
        { role: 'system', content: 'brief' },
        { role: 'user', content: 'hi' },
      ],
      max_tokens: 64,
      temperature: 0.2,
      top_p: 0.9,
      top_k: 40,
      seed: 42,
      stop: '\n\n',
    });
    expect(request).not.toHaveProperty('model');
    expect(request).not.toHaveProperty('stream');
    expect(stopSequences(request)).toEqual(['\n\n']);
    expect(stopSequences({ ...request, stop: undefined })).toEqual([]);
  });

  it('normalises both json_schema shapes to { type, schema }', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    const messages = [{ role: 'user', content: 'x' }];
    const ours = ChatRequest.parse({ messages, response_format: { type: 'json_schema', schema } });
    const openAi = ChatRequest.parse({
      messages,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema } },
    });
    expect(ours.response_format).toEqual({ type: 'json_schema', schema });
    expect(openAi.response_format).toEqual({ type: 'json_schema', schema });
  });

  it.each([
    ['no messages', { messages: [] }],
    ['an unknown role', { messages: [{ role: 'tool', content: 'x' }] }],
    ['zero max_tokens', { messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }],
    ['a temperature above 2', { messages: [{ role: 'user', content: 'x' }], temperature: 2.5 }],
    ['a fractional seed', { messages: [{ role: 'user', content: 'x' }], seed: 1.5 }],
    ['five stop sequences', { messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] }],
    [
      'a raw grammar format',
      { messages: [{ role: 'user', content: 'x' }], response_format: { type: 'gbnf' } },
    ],
  ])('refuses %s', (_, body) => {
    expect(ChatRequest.safeParse(body).success).toBe(false);
  });
});
