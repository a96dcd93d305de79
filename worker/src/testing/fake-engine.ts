import { createHash } from 'node:crypto';
import {
  type Engine,
  EngineError,
  type EngineModel,
  type FinishReason,
  type GenerateOptions,
  type Generation,
} from '../engine/engine.js';
import { ChatRequest, stopSequences } from '../engine/request.js';
import { numberedSlots, PooledEngineModel } from '../engine/slot-pool.js';

/**
 * FAKE engine for tests of other roles (proxy, client SDK, worker networking): no model, no llama.cpp.
 * Answers are deterministic words derived from the request, streamed one "token" (word) at a time;
 * usage looks real (a word-and-punctuation count of the prompt plus per-message overhead) but is not
 * a real tokenizer's count.
 */
export interface FakeModelSpec {
  id: string;
  name?: string;
  priceCoefficient?: number;
  contextSize?: number;
  parallelJobs?: number;
}

export interface FakeEngineOptions {
  models: FakeModelSpec[];
  /** Delay between streamed tokens, to test slow streams and cancellation (default 0). */
  tokenDelayMs?: number;
}

const FAKE_WORDS = (
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa ' +
  'quebec romeo sierra tango uniform victor whiskey xray yankee zulu'
).split(' ');
const MESSAGE_OVERHEAD_TOKENS = 4;

export class FakeEngine implements Engine {
  readonly gpu = 'fake';
  readonly models: readonly FakeEngineModel[];

  constructor(options: FakeEngineOptions) {
    this.models = options.models.map((spec) => new FakeEngineModel(spec, options.tokenDelayMs ?? 0));
  }

  model(id: string): FakeEngineModel {
    const found = this.models.find((model) => model.id === id);
    if (!found) throw new EngineError('unknown_model', `this worker does not serve model ${id}`);
    return found;
  }

  async close(): Promise<void> {
    await Promise.all(this.models.map((model) => model.idle()));
  }
}

export class FakeEngineModel extends PooledEngineModel<number> implements EngineModel {
  readonly id: string;
  readonly name: string;
  readonly priceCoefficient: number;
  readonly contextSize: number;
  readonly chatTemplate = 'fake';
  constructor(
    spec: FakeModelSpec,
    private readonly tokenDelayMs: number,
  ) {
    super(numberedSlots(spec.parallelJobs ?? 4));
    this.id = spec.id;
    this.name = spec.name ?? `fake-${spec.id.slice(0, 8)}`;
    this.priceCoefficient = spec.priceCoefficient ?? 10_000;
    this.contextSize = spec.contextSize ?? 4096;
  }

  idle(): Promise<void> {
    return this.jobs.idle();
  }

  /** Tokens the fake counts for a prompt: words and punctuation marks, plus a few per message. */
  countPromptTokens(request: ChatRequest): number {
    return request.messages.reduce(
      (total, message) =>
        total + MESSAGE_OVERHEAD_TOKENS + (message.content.match(/\w+|[^\w\s]/g)?.length ?? 0),
      0,
    );
  }

  protected async run(input: ChatRequest, options: GenerateOptions): Promise<Generation> {
    const parsed = ChatRequest.safeParse(input);
    if (!parsed.success) throw new EngineError('invalid_request', 'invalid chat request');
    const request = parsed.data;
    const promptTokens = this.countPromptTokens(request);
    if (promptTokens >= this.contextSize) {
      throw new EngineError(
        'prompt_too_long',
        `the prompt has ${promptTokens} tokens; this model's context holds ${this.contextSize}`,
      );
    }
    const digest = createHash('sha256')
      .update(JSON.stringify([this.id, request.messages, request.seed ?? 0]))
      .digest();
    const answerLength = 8 + ((digest[0] ?? 0) % 17);
    const maxTokens = Math.min(
      request.max_tokens ?? Number.POSITIVE_INFINITY,
      options.maxTokens ?? Number.POSITIVE_INFINITY,
      this.contextSize - promptTokens,
    );
    const stops = stopSequences(request);

    let text = '';
    let completionTokens = 0;
    const result = (finishReason: FinishReason): Generation => ({
      text,
      usage: { promptTokens, completionTokens },
      finishReason,
    });
    let slot: number;
    try {
      slot = await this.slots.acquire(options.signal);
    } catch (error) {
      if (options.signal?.aborted) {
        return { text: '', usage: { promptTokens: 0, completionTokens: 0 }, finishReason: 'cancelled' };
      }
      throw error;
    }
    try {
      for (let index = 0; index < answerLength; index++) {
        if (completionTokens >= maxTokens) return result('length');
        await new Promise((resolve) => setTimeout(resolve, this.tokenDelayMs));
        if (options.signal?.aborted) return result('cancelled');
        const word = FAKE_WORDS[(digest[index % digest.length] ?? 0) % FAKE_WORDS.length] as string;
        const piece = index === 0 ? word : ` ${word}`;
        const stopAt = firstStop(text + piece, stops);
        if (stopAt !== undefined) {
          const kept = (text + piece).slice(text.length, stopAt);
          if (kept) {
            text += kept;
            completionTokens++;
            options.onText?.(kept);
          }
          return result('stop');
        }
        text += piece;
        completionTokens++;
        options.onText?.(piece);
      }
      return result('stop');
    } finally {
      this.slots.release(slot);
    }
  }
}

function firstStop(text: string, stops: readonly string[]): number | undefined {
  const positions = stops.map((stop) => text.indexOf(stop)).filter((position) => position >= 0);
  return positions.length > 0 ? Math.min(...positions) : undefined;
}
