import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ChatHistoryItem,
  ChatMLChatWrapper,
  type Llama,
  LlamaChat,
  type LlamaContext,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/engine.js';
import { type GpuChoice, LlamaEngine, loadLlama } from '../../src/engine/llama-engine.js';
import type { ChatRequest } from '../../src/engine/request.js';
import { type GeneratedGguf, writeTinyGguf } from '../../src/testing/random-gguf.js';

// COCOON_TEST_GPU=cuda runs the same checks on a GPU; the default is CPU.
const GPU = (process.env.COCOON_TEST_GPU ?? 'cpu') as GpuChoice;
const CONTEXT_SIZE = 512;
// One thread: on a small shared machine, llama.cpp's spinning threads otherwise starve each other.
const THREADS = 1;

let dir: string;
let llama: Llama;
let tiny: GeneratedGguf;
let otherTiny: GeneratedGguf;
let engine: LlamaEngine;
// node-llama-cpp used directly, on its own model instance and context: the reference.
let directModel: LlamaModel;
let directContext: LlamaContext;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cocoon-engine-'));
  tiny = await writeTinyGguf(join(dir, 'tiny.gguf'), { seed: 1 });
  otherTiny = await writeTinyGguf(join(dir, 'other.gguf'), { seed: 2 });
  llama = await loadLlama(GPU);
  engine = await LlamaEngine.create({
    llama,
    threads: THREADS,
    models: [
      { path: tiny.path, sha256: tiny.sha256, contextSize: CONTEXT_SIZE, parallelJobs: 4 },
      {
        path: otherTiny.path,
        sha256: otherTiny.sha256,
        name: 'other',
        priceCoefficient: 25_000,
        contextSize: CONTEXT_SIZE,
      },
    ],
  });
  directModel = await llama.loadModel({ modelPath: tiny.path });
  directContext = await directModel.createContext({ contextSize: CONTEXT_SIZE, threads: THREADS });
}, 60_000);

afterAll(async () => {
  await directContext?.dispose();
  await directModel?.dispose();
  await engine?.close();
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const messages: ChatRequest['messages'] = [
  { role: 'system', content: 'You answer briefly.' },
  { role: 'user', content: 'Tell me about the world and how it was made.' },
];

function historyOf(request: ChatRequest): ChatHistoryItem[] {
  return [
    ...request.messages.map((message): ChatHistoryItem => {
      if (message.role === 'system') return { type: 'system', text: message.content };
      if (message.role === 'user') return { type: 'user', text: message.content };
      return { type: 'model', response: [message.content] };
    }),
    { type: 'model', response: [] },
  ];
}

/** The same request through node-llama-cpp's own chat API, on a fresh sequence. */
async function generateDirectly(request: ChatRequest) {
  const sequence = directContext.getSequence();
  const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: new ChatMLChatWrapper() });
  const tokens: Token[] = [];
  try {
    const result = await chat.generateResponse(historyOf(request), {
      maxTokens: request.max_tokens,
      temperature: request.temperature,
      topK: request.top_k,
      topP: request.top_p,
      seed: request.seed,
      customStopTriggers: typeof request.stop === 'string' ? [request.stop] : request.stop,
      repeatPenalty: false,
      onToken: (chunk) => tokens.push(...chunk),
    });
    return { text: result.response, tokens, stopReason: result.metadata.stopReason };
  } finally {
    chat.dispose();
    sequence.dispose();
  }
}

async function generateStreaming(request: ChatRequest, modelId = tiny.sha256) {
  const chunks: string[] = [];
  const generation = await engine.model(modelId).generate(request, { onText: (chunk) => chunks.push(chunk) });
  return { generation, chunks };
}

describe('LlamaEngine on the tiny model', () => {
  it('serves each model under its SHA-256 with its name, price and sizes', () => {
    expect(engine.gpu).toBe(GPU === 'cpu' ? 'cpu' : GPU);
    const [first, second] = engine.models;
    expect(first?.id).toBe(tiny.sha256);
    expect(first?.name).toBe('cocoon-tiny-1');
    expect(first?.priceCoefficient).toBe(10_000);
    expect(first?.parallelJobs).toBe(4);
    expect(first?.contextSize).toBe(CONTEXT_SIZE);
    expect(first?.chatTemplate).toBe('ChatML');
    expect(second?.name).toBe('other');
    expect(second?.priceCoefficient).toBe(25_000);
    expect(() => engine.model('00'.repeat(32))).toThrowError(EngineError);
  });

  it('yields exactly what node-llama-cpp yields directly, greedy and seeded', async () => {
    const requests: ChatRequest[] = [
      { messages, max_tokens: 48, temperature: 0 },
      { messages, max_tokens: 48, temperature: 0.9, top_k: 0, top_p: 1, seed: 7 },
      { messages, max_tokens: 48, temperature: 1.2, top_k: 20, top_p: 0.9, seed: 1234 },
    ];
    for (const request of requests) {
      const direct = await generateDirectly(request);
      const { generation, chunks } = await generateStreaming(request);
      expect(direct.tokens.length).toBeGreaterThan(0);
      expect(generation.text).toBe(direct.text);
      expect(generation.usage.completionTokens).toBe(direct.tokens.length);
      expect(generation.finishReason).toBe(direct.stopReason === 'maxTokens' ? 'length' : 'stop');
      expect(chunks.join('')).toBe(generation.text);
    }
    const seeded = { messages, max_tokens: 48, temperature: 0.9, top_k: 0, top_p: 1 };
    const [seven, eight] = [
      await generateStreaming({ ...seeded, seed: 7 }),
      await generateStreaming({ ...seeded, seed: 8 }),
    ];
    expect(seven.generation.text).not.toBe(eight.generation.text);
  });

  it('counts prompt tokens with the model tokenizer over the rendered template', async () => {
    const request: ChatRequest = { messages, max_tokens: 4, temperature: 0 };
    const rendered = new ChatMLChatWrapper().generateContextState({
      chatHistory: historyOf(request),
    }).contextText;
    const expected = rendered.tokenize(directModel.tokenizer);
    expect(expected[0]).toBe(directModel.tokens.bos);
    const { generation } = await generateStreaming(request);
    expect(generation.usage.promptTokens).toBe(expected.length);
    const longer = await generateStreaming({
      ...request,
      messages: [...messages, { role: 'user', content: 'the' }],
    });
    expect(longer.generation.usage.promptTokens).toBeGreaterThan(expected.length);
  });

  it('respects max_tokens and the caller cap, and reports length', async () => {
    const { generation } = await generateStreaming({ messages, max_tokens: 5, temperature: 0 });
    expect(generation.usage.completionTokens).toBe(5);
    expect(generation.finishReason).toBe('length');
    const capped = await engine
      .model(tiny.sha256)
      .generate({ messages, max_tokens: 40, temperature: 0 }, { maxTokens: 3 });
    expect(capped.usage.completionTokens).toBe(3);
    expect(capped.finishReason).toBe('length');
    expect(generation.text.startsWith(capped.text)).toBe(true);
  });

  it('stops at a stop sequence without emitting it, as node-llama-cpp does', async () => {
    const full = (await generateStreaming({ messages, max_tokens: 60, temperature: 0 })).generation.text;
    const match = /[a-z]{2,}/.exec(full.slice(4));
    expect(match).not.toBeNull();
    const stop = match?.[0] as string;
    const request: ChatRequest = { messages, max_tokens: 60, temperature: 0, stop: [stop, 'never appears'] };
    const { generation, chunks } = await generateStreaming(request);
    const direct = await generateDirectly(request);
    expect(generation.text).toBe(direct.text);
    expect(generation.usage.completionTokens).toBe(direct.tokens.length);
    expect(generation.finishReason).toBe('stop');
    expect(full.startsWith(generation.text)).toBe(true);
    expect(generation.text.length).toBeLessThan(full.indexOf(stop) + 1);
    expect(chunks.join('')).toBe(generation.text);
  });

  it('stops at the end of the context without dropping the prompt', async () => {
    const { generation } = await generateStreaming({ messages, temperature: 0 });
    expect(generation.finishReason).toBe('length');
    expect(generation.usage.promptTokens + generation.usage.completionTokens).toBe(CONTEXT_SIZE - 1);
  });

  it('cancels promptly on abort and returns what was streamed', async () => {
    const controller = new AbortController();
    const chunks: string[] = [];
    const generation = await engine.model(tiny.sha256).generate(
      { messages, max_tokens: 400, temperature: 0.8, seed: 3 },
      {
        signal: controller.signal,
        onText: (chunk) => {
          chunks.push(chunk);
          if (chunks.length === 3) controller.abort();
        },
      },
    );
    expect(generation.finishReason).toBe('cancelled');
    expect(generation.text).toBe(chunks.join(''));
    // Generation checks the signal after every token.
    expect(generation.usage.completionTokens).toBeGreaterThanOrEqual(3);
    expect(generation.usage.completionTokens).toBeLessThan(10);
    expect(engine.model(tiny.sha256).activeJobs).toBe(0);

    const early = new AbortController();
    early.abort();
    const never = await engine.model(tiny.sha256).generate({ messages }, { signal: early.signal });
    expect(never).toEqual({
      text: '',
      finishReason: 'cancelled',
      usage: { promptTokens: 0, completionTokens: 0 },
    });
  });

  it('runs concurrent jobs on separate sequences, queueing past the parallel limit', async () => {
    const requests: ChatRequest[] = [0, 1, 2, 3, 4, 5].map((index) => ({
      messages: [{ role: 'user', content: `question ${index} about the world` }],
      max_tokens: 40,
      temperature: index % 2 === 0 ? 0 : 0.7,
      seed: index,
    }));
    const model = engine.model(tiny.sha256);
    const running = requests.map((request) => model.generate(request));
    expect(model.activeJobs).toBe(requests.length); // 4 running, 2 waiting for a sequence
    const concurrent = await Promise.all(running);
    // Not compared token for token with the same requests run one by one: llama.cpp's batched decode sums in
    // another order than a lone sequence's, and a random-weight model's near-ties flip on that difference.
    // (A lone job's exact tokens are compared with node-llama-cpp's own above.)
    for (const generation of concurrent) {
      expect(generation.usage.promptTokens).toBe(concurrent[0]?.usage.promptTokens);
      expect(generation.usage.completionTokens).toBeGreaterThan(0);
      expect(generation.usage.completionTokens).toBeLessThanOrEqual(40);
      expect(['stop', 'length']).toContain(generation.finishReason);
    }
    expect(model.activeJobs).toBe(0);
  });

  it('keeps models apart', async () => {
    const request: ChatRequest = { messages, max_tokens: 24, temperature: 0 };
    const [first, second] = await Promise.all([
      generateStreaming(request, tiny.sha256),
      generateStreaming(request, otherTiny.sha256),
    ]);
    expect(first.generation.text).not.toBe(second.generation.text);
  });

  it('constrains output to a JSON schema', async () => {
    const schema = {
      type: 'object',
      properties: { answer: { type: 'number' }, ok: { type: 'boolean' } },
      required: ['answer', 'ok'],
    };
    const { generation } = await generateStreaming({
      messages,
      max_tokens: 200,
      temperature: 0,
      response_format: { type: 'json_schema', schema },
    });
    expect(generation.finishReason).toBe('stop');
    const parsed = JSON.parse(generation.text);
    expect(typeof parsed.answer).toBe('number');
    expect(typeof parsed.ok).toBe('boolean');
    const openAiShape = await generateStreaming({
      messages,
      max_tokens: 200,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { schema } } as never,
    });
    expect(openAiShape.generation.text).toBe(generation.text);
  });

  it('refuses bad requests with content-free errors', async () => {
    const model = engine.model(tiny.sha256);
    const secret = 'the secret prompt';
    await expect(model.generate({ messages: [] })).rejects.toMatchObject({ code: 'invalid_request' });
    const wrongRole = model.generate({ messages: [{ role: 'tool', content: secret }] } as never);
    await expect(wrongRole).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(wrongRole).rejects.not.toThrow(secret);
    const tooLong = model.generate({ messages: [{ role: 'user', content: 'the '.repeat(CONTEXT_SIZE) }] });
    await expect(tooLong).rejects.toMatchObject({ code: 'prompt_too_long' });
  });
});

describe('LlamaEngine lifecycle', () => {
  it('sizes context and parallel jobs from free memory when not told', async () => {
    const sized = await LlamaEngine.create({
      llama,
      threads: THREADS,
      models: [{ path: tiny.path, sha256: tiny.sha256 }],
    });
    try {
      const [model] = sized.models;
      // The tiny model was trained on 512 tokens and RAM is plentiful: the largest candidates win.
      expect(model?.contextSize).toBe(512);
      expect(model?.parallelJobs).toBe(8);
    } finally {
      await sized.close();
    }
  });

  it('finishes running jobs on close, then refuses new ones', async () => {
    const closing = await LlamaEngine.create({
      llama,
      threads: THREADS,
      models: [{ path: tiny.path, sha256: tiny.sha256, contextSize: CONTEXT_SIZE, parallelJobs: 1 }],
    });
    const model = closing.model(tiny.sha256);
    const running = model.generate({ messages, max_tokens: 30, temperature: 0 });
    const closed = closing.close();
    const generation = await running;
    await closed;
    expect(generation.finishReason).toBe('length');
    expect(generation.usage.completionTokens).toBe(30);
    expect(() => closing.model(tiny.sha256)).toThrowError(expect.objectContaining({ code: 'closed' }));
    await expect(model.generate({ messages })).rejects.toMatchObject({ code: 'closed' });
  });

  it.skipIf(GPU !== 'cpu')(
    'runs no more threads than the cores that do math, as llama.cpp threads spin',
    () => {
      expect(llama.maxThreads).toBeLessThanOrEqual(llama.cpuMathCores);
    },
  );

  it('refuses a model listed twice', async () => {
    const twice = { path: tiny.path, sha256: tiny.sha256 };
    await expect(LlamaEngine.create({ llama, models: [twice, twice] })).rejects.toMatchObject({
      code: 'invalid_request',
    });
  });
});
