import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../src/engine/request.js';
import { FakeEngine } from '../../src/testing/fake-engine.js';

const id = 'ab'.repeat(32);
const request: ChatRequest = { messages: [{ role: 'user', content: 'Summarise this channel, please.' }] };

describe('FakeEngine', () => {
  it('streams deterministic text with plausible usage', async () => {
    const engine = new FakeEngine({ models: [{ id, name: 'fake', priceCoefficient: 20_000 }] });
    const chunks: string[] = [];
    const first = await engine.model(id).generate(request, { onText: (chunk) => chunks.push(chunk) });
    const second = await engine.model(id).generate(request);
    expect(first).toEqual(second);
    expect(chunks.join('')).toBe(first.text);
    expect(first.finishReason).toBe('stop');
    expect(first.usage.completionTokens).toBe(chunks.length);
    expect(first.usage.promptTokens).toBe(4 + 6); // message overhead + 5 words and a full stop
    expect(engine.model(id).priceCoefficient).toBe(20_000);
    const other = await engine.model(id).generate({ ...request, seed: 1 });
    expect(other.text).not.toBe(first.text);
    expect(() => engine.model('cd'.repeat(32))).toThrowError(
      expect.objectContaining({ code: 'unknown_model' }),
    );
  });

  it('honours max tokens, stop sequences and cancellation', async () => {
    const engine = new FakeEngine({ models: [{ id }], tokenDelayMs: 5 });
    const model = engine.model(id);
    const capped = await model.generate({ ...request, max_tokens: 3 });
    expect(capped).toMatchObject({ finishReason: 'length', usage: { completionTokens: 3 } });
    const full = await model.generate(request);
    const stop = full.text.split(' ')[2] as string;
    const stopped = await model.generate({ ...request, stop });
    expect(stopped.finishReason).toBe('stop');
    expect(stopped.text).toBe(full.text.slice(0, full.text.indexOf(stop)));

    const controller = new AbortController();
    const running = model.generate(request, { signal: controller.signal, onText: () => controller.abort() });
    expect(model.activeJobs).toBe(1);
    const cancelled = await running;
    expect(cancelled).toMatchObject({ finishReason: 'cancelled', usage: { completionTokens: 1 } });
    await engine.close();
    expect(model.activeJobs).toBe(0);
  });
});
