/**
 * Sealing benchmark (Node-only by nature: it reads the host's CPU facts). Run: npm run bench -w @cocoon/shared
 * Prints throughput of the streamed chunk path and the request body, and per-job sealing latency.
 */
import os from 'node:os';
import { randomBytes, toHex } from '../src/bytes.js';
import { generateWorkerKeyPair } from '../src/crypto/hpke.js';
import { ChunkOpener, ChunkSealer, type JobKey, openJob, sealJob } from '../src/crypto/seal.js';
import type { JobHeader, SealedChunk } from '../src/protocol/job.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Decimal megabytes, as the throughput figures elsewhere in the design are quoted. */
const MB = 1e6;

const median = (samples: number[]): number => {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** Payload of any size (getRandomValues caps one call at 64 KiB, and content does not change AEAD cost). */
const payload = (size: number): Uint8Array => {
  const out = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 64 * KiB)
    out.set(randomBytes(Math.min(64 * KiB, size - offset)), offset);
  return out;
};

async function timeIt(run: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

const header = (): JobHeader => ({
  v: 1,
  jobId: toHex(randomBytes(16)),
  model: toHex(randomBytes(32)),
  client: toHex(randomBytes(32)),
  maxTokens: 1024,
  maxCost: 10_000_000_000n,
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
});

const worker = await generateWorkerKeyPair();
const workers = [worker, await generateWorkerKeyPair(), await generateWorkerKeyPair()];

/** Seals then opens `count` chunks of `size` bytes; returns median seal and open milliseconds per run. */
async function chunkRun(jobKey: JobKey, size: number, count: number, runs: number) {
  const plaintext = payload(size);
  const sealMs: number[] = [];
  const openMs: number[] = [];
  for (let run = 0; run <= runs; run++) {
    const jobId = toHex(randomBytes(16));
    const sealer = new ChunkSealer(jobKey, jobId);
    const chunks: SealedChunk[] = [];
    const sealTime = await timeIt(async () => {
      for (let i = 0; i < count; i++) chunks.push(await sealer.seal(plaintext, { final: i === count - 1 }));
      sealer.responseHash();
    });
    const opener = new ChunkOpener(jobKey, jobId);
    const openTime = await timeIt(async () => {
      for (const chunk of chunks) await opener.open(chunk);
      opener.responseHash();
    });
    // Run 0 warms up the JIT and key derivation caches.
    if (run > 0) {
      sealMs.push(sealTime);
      openMs.push(openTime);
    }
  }
  return { seal: median(sealMs), open: median(openMs) };
}

async function bodyRun(size: number, runs: number) {
  const request = payload(size);
  const sealMs: number[] = [];
  const openMs: number[] = [];
  for (let run = 0; run <= runs; run++) {
    let sealed: Awaited<ReturnType<typeof sealJob>>['sealed'] | undefined;
    const sealTime = await timeIt(async () => {
      sealed = (await sealJob(header(), request, [worker.publicKey])).sealed;
    });
    const openTime = await timeIt(async () => {
      await openJob(sealed as NonNullable<typeof sealed>, worker);
    });
    if (run > 0) {
      sealMs.push(sealTime);
      openMs.push(openTime);
    }
  }
  return { seal: median(sealMs), open: median(openMs) };
}

async function latencyRun(size: number, k: number, runs: number) {
  const request = payload(size);
  const keys = workers.slice(0, k).map((w) => w.publicKey);
  const sealMs: number[] = [];
  const openMs: number[] = [];
  for (let run = 0; run < runs + 5; run++) {
    let sealed: Awaited<ReturnType<typeof sealJob>>['sealed'] | undefined;
    const sealTime = await timeIt(async () => {
      sealed = (await sealJob(header(), request, keys)).sealed;
    });
    const openTime = await timeIt(async () => {
      await openJob(sealed as NonNullable<typeof sealed>, worker);
    });
    if (run >= 5) {
      sealMs.push(sealTime);
      openMs.push(openTime);
    }
  }
  return {
    seal: median(sealMs),
    open: median(openMs),
    total: median(sealMs.map((s, i) => s + (openMs[i] ?? 0))),
  };
}

const table = (title: string, head: string[], rows: string[][]) => {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
};

const mbps = (bytes: number, ms: number) => (bytes / MB / (ms / 1000)).toFixed(1);
const started = performance.now();
console.log(
  `Cocoon sealing bench: Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}`,
);
console.log(
  'Medians; MB = 10^6 bytes. Chunks: AES-256-GCM + SHA-256 response hash. Wrap: HPKE X25519/ChaCha20-Poly1305.',
);

const { jobKey } = await sealJob(header(), new Uint8Array(0), [worker.publicKey]);
const streams: [string, number, number, number][] = [
  ['chunks 64 KiB x 256 (16 MiB)', 64 * KiB, 256, 5],
  ['chunks 4 KiB x 2048 (8 MiB)', 4 * KiB, 2048, 5],
  ['chunks 64 B x 4096 (token-sized)', 64, 4096, 5],
];
const throughputRows: string[][] = [];
for (const [label, size, count, runs] of streams) {
  const { seal, open } = await chunkRun(jobKey, size, count, runs);
  const perChunk = (ms: number) => `${((ms * 1000) / count).toFixed(1)} µs`;
  throughputRows.push([
    label,
    mbps(size * count, seal),
    mbps(size * count, open),
    perChunk(seal),
    perChunk(open),
  ]);
}
// 4 MiB: the Base64 schema's regex overflows the stack on bodies from about 4 MiB (5.6 MB of base64 text).
for (const size of [2 * MiB]) {
  const { seal, open } = await bodyRun(size, 7);
  throughputRows.push([
    `body ${size / MiB} MiB (sealJob/openJob, k=1)`,
    mbps(size, seal),
    mbps(size, open),
    '',
    '',
  ]);
}
table('Throughput', ['path', 'seal MB/s', 'open MB/s', 'seal/chunk', 'open/chunk'], throughputRows);

const latencyRows: string[][] = [];
for (const size of [1 * KiB, 64 * KiB]) {
  for (const k of [1, 3]) {
    const { seal, open, total } = await latencyRun(size, k, 150);
    latencyRows.push([`${size / KiB} KiB, k=${k}`, seal.toFixed(2), open.toFixed(2), total.toFixed(2)]);
  }
}
table('Per-job latency (ms, 150 jobs each)', ['job', 'sealJob', 'openJob', 'seal+open'], latencyRows);
console.log(`\nbench took ${((performance.now() - started) / 1000).toFixed(1)} s`);
