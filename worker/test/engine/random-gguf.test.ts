import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyGguf, writeRandomGguf, writeTinyGguf } from '../../src/testing/random-gguf.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cocoon-gguf-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeTinyGguf', () => {
  it('writes a deterministic ~500 KB file per seed and returns its SHA-256', async () => {
    const a = await writeTinyGguf(join(dir, 'a.gguf'), { seed: 9 });
    const b = await writeTinyGguf(join(dir, 'nested', 'b.gguf'), { seed: 9 });
    const c = await writeTinyGguf(join(dir, 'c.gguf'), { seed: 10 });
    expect(a.sha256).toBe(b.sha256);
    expect(a.sha256).not.toBe(c.sha256);
    const bytes = await readFile(a.path);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(a.sha256);
    expect(bytes.length).toBeGreaterThan(400_000);
    expect(bytes.length).toBeLessThan(700_000);
    expect(Buffer.from(buildTinyGguf(9)).equals(bytes)).toBe(true);
  });

  it('is a llama GGUF with a unique, byte-complete vocabulary', async () => {
    const { path } = await writeTinyGguf(join(dir, 'v.gguf'));
    const info = await readGgufFileInfo(path);
    expect(info.metadata.general.architecture).toBe('llama');
    expect(info.metadata.general.alignment).toBe(32);
    const tokens = info.metadata.tokenizer.ggml.tokens as string[];
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect(tokens).toContain('<0xFF>');
    expect(tokens).toContain('▁the');
    expect(info.tensorInfo?.length).toBe(3 + 2 * 9);
  });

  it('writes a larger shape streamed, with grouped-query attention and a real vocabulary width', async () => {
    const small = await writeRandomGguf(join(dir, 'small.gguf'), { shape: 'small', contextLength: 1024 });
    const info = await readGgufFileInfo(small.path);
    expect(info.metadata.general.name).toBe('cocoon-small-1');
    expect(info.metadata.llama?.context_length).toBe(1024);
    expect((info.metadata.tokenizer.ggml.tokens as string[]).length).toBe(32_000);
    // 12 query heads share 4 key/value heads of 64 dimensions.
    const key = info.tensorInfo?.find((tensor) => tensor.name === 'blk.0.attn_k.weight');
    expect(key?.dimensions.map(Number)).toEqual([768, 256]);
    const hash = createHash('sha256');
    for await (const piece of createReadStream(small.path)) hash.update(piece);
    expect(hash.digest('hex')).toBe(small.sha256);
    await rm(small.path);
  });
});
