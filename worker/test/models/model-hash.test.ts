import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { modelFileSha256, modelHashSidecarPath } from '../../src/models/model-hash.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cocoon-hash-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('modelFileSha256', () => {
  it('hashes the file once and then trusts the sidecar while size and mtime hold', async () => {
    const path = join(dir, 'model.gguf');
    const content = Buffer.alloc(9 << 20, 7); // more than one read chunk
    await writeFile(path, content);
    const expected = createHash('sha256').update(content).digest('hex');
    const progress: number[] = [];

    expect(await modelFileSha256(path, { onProgress: (p) => progress.push(p.hashedBytes) })).toBe(expected);
    expect(progress.at(-1)).toBe(content.length);
    expect(progress.length).toBeGreaterThan(1);
    const sidecar = JSON.parse(await readFile(modelHashSidecarPath(path), 'utf8'));
    expect(sidecar).toMatchObject({ v: 1, size: content.length, sha256: expected });
    const sidecarMtime = (await stat(modelHashSidecarPath(path))).mtimeMs;

    // Second call: no hashing (no progress), no rewrite of the sidecar.
    progress.length = 0;
    expect(await modelFileSha256(path, { onProgress: (p) => progress.push(p.hashedBytes) })).toBe(expected);
    expect(progress).toEqual([]);
    expect((await stat(modelHashSidecarPath(path))).mtimeMs).toBe(sidecarMtime);

    // Proof that the sidecar is what answers: a planted digest for the same size and mtime is returned.
    const planted = 'ab'.repeat(32);
    await writeFile(modelHashSidecarPath(path), JSON.stringify({ ...sidecar, sha256: planted }));
    expect(await modelFileSha256(path)).toBe(planted);
  });

  it('re-hashes when the file changes, and ignores a broken sidecar', async () => {
    const path = join(dir, 'model.gguf');
    await writeFile(path, 'first');
    await modelFileSha256(path);
    await writeFile(path, 'second!');
    const later = new Date(Date.now() + 5000);
    await utimes(path, later, later);
    expect(await modelFileSha256(path)).toBe(createHash('sha256').update('second!').digest('hex'));

    await writeFile(modelHashSidecarPath(path), 'not json');
    expect(await modelFileSha256(path)).toBe(createHash('sha256').update('second!').digest('hex'));
    expect(JSON.parse(await readFile(modelHashSidecarPath(path), 'utf8')).size).toBe(7);
  });
});
