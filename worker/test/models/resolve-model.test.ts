import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DownloadProgress,
  formatDownloadProgress,
  ModelResolutionError,
  resolveModel,
} from '../../src/models/resolve-model.js';
import { type GeneratedGguf, writeTinyGguf } from '../../src/testing/random-gguf.js';

/** Just enough of the Hugging Face API for node-llama-cpp: quant manifests and ranged file downloads. */
class FakeHuggingFace {
  readonly requests: Array<{ path: string; range?: string }> = [];
  /** When set, file responses send this many bytes and then hang, like a dead link. */
  stallAfterBytes: number | undefined;
  private readonly server: Server = createServer((req, res) => this.handle(req, res));

  constructor(private readonly files: Record<string, Uint8Array>) {}

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  dropConnections(): void {
    this.server.closeAllConnections();
  }

  async stop(): Promise<void> {
    this.dropConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    this.requests.push({ path, range: req.headers.range });
    const manifest = /^\/v2\/([^/]+)\/([^/]+)\/manifests\/([^/]+)$/.exec(path);
    if (manifest) {
      const file = `${manifest[2]?.replace(/-GGUF$/, '')}.${manifest[3]}.gguf`;
      if (!this.files[file]) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ ggufFile: { rfilename: file } }));
    }
    const download = /^\/[^/]+\/[^/]+\/resolve\/main\/(.+)$/.exec(path);
    const bytes = download ? this.files[download[1] as string] : undefined;
    if (!bytes) return void res.writeHead(404).end();
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range?.[2] ? Number(range[2]) : bytes.length - 1;
    res.writeHead(range ? 206 : 200, {
      'accept-ranges': 'bytes',
      'content-length': String(end - start + 1),
      ...(range ? { 'content-range': `bytes ${start}-${end}/${bytes.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    const body = bytes.subarray(start, end + 1);
    if (this.stallAfterBytes !== undefined) res.write(body.subarray(0, this.stallAfterBytes));
    else res.end(body);
  }
}

let dir: string;
let tiny: GeneratedGguf;
let big: Uint8Array;
let hub: FakeHuggingFace;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cocoon-resolve-'));
  tiny = await writeTinyGguf(join(dir, 'local', 'tiny.gguf'), { seed: 5 });
  // Larger than ipull's 5 MiB resume chunks, so an interrupted download has something to keep.
  big = randomBytes(11 << 20);
  hub = new FakeHuggingFace({ 'tiny.Q8_0.gguf': await readFile(tiny.path), 'big.gguf': big });
  await hub.start();
});

afterAll(async () => {
  await hub.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('resolveModel', () => {
  it('takes a local path as is and identifies it by SHA-256', async () => {
    const resolved = await resolveModel(relative(process.cwd(), tiny.path));
    expect(resolved).toMatchObject({ path: tiny.path, sha256: tiny.sha256 });
    expect(resolved.sizeBytes).toBeGreaterThan(400_000);
    await expect(resolveModel(join(dir, 'missing.gguf'))).rejects.toBeInstanceOf(ModelResolutionError);
    await expect(resolveModel(dir)).rejects.toThrow(/not a file/);
  });

  it('downloads an hf: URI from the configured endpoint into the cache, once', async () => {
    const cacheDir = join(dir, 'cache');
    const progress: DownloadProgress[] = [];
    const resolved = await resolveModel('hf:cocoon/tiny-GGUF:Q8_0', {
      cacheDir,
      huggingFaceEndpoint: hub.endpoint,
      onDownloadProgress: (p) => progress.push(p),
    });
    expect(resolved.sha256).toBe(tiny.sha256);
    expect(resolved.path.startsWith(cacheDir)).toBe(true);
    expect(hub.requests.some((r) => r.path === '/v2/cocoon/tiny-GGUF/manifests/Q8_0')).toBe(true);
    const last = progress.at(-1);
    expect(last?.downloadedBytes).toBe(resolved.sizeBytes);
    expect(last?.totalBytes).toBe(resolved.sizeBytes);
    expect(progress.some((p) => p.bytesPerSecond > 0)).toBe(true);
    expect(formatDownloadProgress(last as DownloadProgress)).toMatch(/KiB \/ .* KiB {2}100\.0% {2}.*\/s$/);

    const before = hub.requests.length;
    const again = await resolveModel('hf:cocoon/tiny-GGUF:Q8_0', {
      cacheDir,
      huggingFaceEndpoint: hub.endpoint,
    });
    expect(again.path).toBe(resolved.path);
    expect(hub.requests.length).toBe(before); // found in the cache, no network
  });

  it('resumes an interrupted download instead of starting over', async () => {
    const cacheDir = join(dir, 'resume');
    const source = 'hf:cocoon/big/big.gguf';
    hub.stallAfterBytes = 6 << 20;
    const controller = new AbortController();
    const interrupted = resolveModel(source, {
      cacheDir,
      huggingFaceEndpoint: hub.endpoint,
      signal: controller.signal,
      onDownloadProgress: (p) => {
        if (p.downloadedBytes >= 6 << 20) controller.abort(new Error('operator pressed ctrl-c'));
      },
    });
    await expect(interrupted).rejects.toThrow('operator pressed ctrl-c');
    hub.dropConnections();
    hub.stallAfterBytes = undefined;

    const firstResumeRequest = hub.requests.length;
    const resolved = await resolveModel(source, { cacheDir, huggingFaceEndpoint: hub.endpoint });
    expect(resolved.sha256).toBe(createHash('sha256').update(big).digest('hex'));
    const rangedBytes = hub.requests
      .slice(firstResumeRequest)
      .map((r) => /^bytes=(\d+)-(\d+)$/.exec(r.range ?? ''))
      .reduce((sum, m) => sum + (m ? Number(m[2]) - Number(m[1]) + 1 : 0), 0);
    expect(rangedBytes).toBeGreaterThan(0);
    expect(rangedBytes).toBeLessThan(big.length);
  });

  it('reports an unknown model as a resolution error', async () => {
    const attempt = resolveModel('hf:cocoon/nothing-GGUF:Q4_K_M', {
      cacheDir: join(dir, 'none'),
      huggingFaceEndpoint: hub.endpoint,
    });
    await expect(attempt).rejects.toBeInstanceOf(ModelResolutionError);
  });
});
