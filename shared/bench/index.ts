/**
 * Sealing benchmark (Node-only by nature: it reads the host's CPU facts). Run: npm run bench -w @cocoon/shared
 * tinybench measures each operation (warm-up, then samples for a fixed time); the tables print its median
 * (p50) per operation and its relative margin of error. Chunk streams are sealed and opened whole, as a worker
 * and a client do: one operation is one stream, key derivation and response hash included.
 */
import os from 'node:os';
import { Cell } from '@ton/core';
import { Bench, type Statistics } from 'tinybench';
import { fromBase64, randomBytes, toHex } from '../src/bytes.js';
import { generateWorkerKeyPair } from '../src/crypto/hpke.js';
import { ChunkOpener, ChunkSealer, type JobKey, openJob, sealJob } from '../src/crypto/seal.js';
import type { JobHeader, SealedChunk } from '../src/protocol/job.js';
import { openReceipt, type Receipt, receiptFromCell, signReceipt, verifyReceipt } from '../src/receipt.js';
import { readCanonicalReceiptBoc } from '../src/receipt-boc.js';
import { generateSigningKeyPair } from '../src/signing.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Decimal megabytes, as the throughput figures elsewhere in the design are quoted. */
const MB = 1e6;
/** The target for sealing and opening 64 KiB chunks. */
const TARGET_CHUNK_MB_PER_S = 200;

/** Payload of any size (getRandomValues caps one call at 64 KiB, and content does not change AEAD cost). */
const payload = (size: number): Uint8Array => {
  const out = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 64 * KiB)
    out.set(randomBytes(Math.min(64 * KiB, size - offset)), offset);
  return out;
};

const header = (): JobHeader => ({
  v: 1,
  jobId: toHex(randomBytes(16)),
  model: toHex(randomBytes(32)),
  client: toHex(randomBytes(32)),
  maxTokens: 1024,
  maxCost: 10_000_000_000n,
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
});

const bench = new Bench({ time: Number(process.env.COCOON_BENCH_TASK_MS ?? 500), throws: true });
/** The p50 latency (ms) and relative margin of error of each task, by name, once the bench ran. */
const measured = (name: string): Statistics => {
  const result = bench.getTask(name)?.result;
  if (result?.state !== 'completed') throw new Error(`bench task ${name} did not complete`);
  return result.latency;
};

const worker = await generateWorkerKeyPair();
const workers = [worker, await generateWorkerKeyPair(), await generateWorkerKeyPair()];
const { jobKey } = await sealJob(header(), new Uint8Array(0), [worker.publicKey]);

async function sealStream(key: JobKey, jobId: string, plaintext: Uint8Array, count: number) {
  const sealer = new ChunkSealer(key, jobId);
  const chunks: SealedChunk[] = [];
  for (let i = 0; i < count; i++) chunks.push(await sealer.seal(plaintext, { final: i === count - 1 }));
  sealer.responseHash();
  return chunks;
}

const streams = [
  { label: '64 KiB', size: 64 * KiB, count: 16 },
  { label: '4 KiB', size: 4 * KiB, count: 64 },
  { label: '64 B (token-sized)', size: 64, count: 256 },
];
for (const { label, size, count } of streams) {
  const plaintext = payload(size);
  const jobId = toHex(randomBytes(16));
  const sealed = await sealStream(jobKey, jobId, plaintext, count);
  bench.add(`seal ${label}`, () => sealStream(jobKey, jobId, plaintext, count).then(() => undefined));
  bench.add(`open ${label}`, async () => {
    const opener = new ChunkOpener(jobKey, jobId);
    for (const chunk of sealed) await opener.open(chunk);
    opener.responseHash();
  });
}

const jobs = [
  { label: '1 KiB, k=1', size: 1 * KiB, k: 1 },
  { label: '1 KiB, k=3', size: 1 * KiB, k: 3 },
  { label: '64 KiB, k=1', size: 64 * KiB, k: 1 },
  { label: '64 KiB, k=3', size: 64 * KiB, k: 3 },
  { label: '2 MiB, k=1', size: 2 * MiB, k: 1 },
];
for (const { label, size, k } of jobs) {
  const request = payload(size);
  const keys = workers.slice(0, k).map((w) => w.publicKey);
  const { sealed } = await sealJob(header(), request, keys);
  bench.add(`sealJob ${label}`, () => sealJob(header(), request, keys).then(() => undefined));
  bench.add(`openJob ${label}`, () => openJob(sealed, worker).then(() => undefined));
}

const signer = generateSigningKeyPair();
const receipt: Receipt = {
  jobId: toHex(randomBytes(16)),
  client: toHex(randomBytes(32)),
  model: toHex(randomBytes(32)),
  promptTokens: 812,
  completionTokens: 240,
  pricePerToken: 20n,
  amount: 21_040n,
  requestHash: toHex(randomBytes(32)),
  responseHash: toHex(randomBytes(32)),
  worker: toHex(signer.publicKey),
  time: Math.floor(Date.now() / 1000),
};
const signed = signReceipt(receipt, signer.secretKey);
bench.add('receipt sign', () => {
  signReceipt(receipt, signer.secretKey);
});
bench.add('receipt verify', () => {
  verifyReceipt(signed, receipt.worker);
});
bench.add('receipt open', () => openReceipt(signed, receipt.worker).then(() => undefined));
// The BOC read inside verify/open: direct for the layout workers write, @ton/core for any other.
const signedBoc = fromBase64(signed.boc);
bench.add('receipt BOC read, direct', () => {
  readCanonicalReceiptBoc(signedBoc);
});
bench.add('receipt BOC read, @ton/core', () => {
  const cell = Cell.fromBoc(Buffer.from(signedBoc))[0] as Cell;
  receiptFromCell(cell);
  cell.hash();
});

const started = performance.now();
await bench.run();

const table = (title: string, head: string[], rows: string[][]) => {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
};
const mbPerSecond = (bytes: number, ms: number) => bytes / MB / (ms / 1000);
const margin = (stats: Statistics) => `±${stats.rme.toFixed(1)}%`;

console.log(
  `Cocoon sealing bench: Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, ` +
    `load average ${os.loadavg()[0]?.toFixed(1)} at the start`,
);
console.log(
  'tinybench p50 per operation, ± relative margin of error of the mean; MB = 10^6 bytes.\n' +
    'Chunks: AES-256-GCM + SHA-256 response hash (OpenSSL under Node). Wrap: HPKE X25519 (OpenSSL)/ChaCha20-Poly1305.',
);

table(
  'Chunk streams (one operation = one whole stream)',
  ['chunks', 'seal MB/s', 'open MB/s', 'seal/chunk', 'open/chunk', 'margin'],
  streams.map(({ label, size, count }) => {
    const seal = measured(`seal ${label}`);
    const open = measured(`open ${label}`);
    const perChunk = (stats: Statistics) => `${((stats.p50 * 1000) / count).toFixed(1)} µs`;
    return [
      `${label} x ${count}`,
      mbPerSecond(size * count, seal.p50).toFixed(1),
      mbPerSecond(size * count, open.p50).toFixed(1),
      perChunk(seal),
      perChunk(open),
      `${margin(seal)} / ${margin(open)}`,
    ];
  }),
);
const target = streams[0] as (typeof streams)[number];
for (const side of ['seal', 'open'] as const) {
  const rate = mbPerSecond(target.size * target.count, measured(`${side} ${target.label}`).p50);
  const ratio = rate / TARGET_CHUNK_MB_PER_S;
  console.log(
    `${side} 64 KiB chunks: ${rate.toFixed(1)} MB/s = ${ratio.toFixed(2)} x the target of ` +
      `>= ${TARGET_CHUNK_MB_PER_S} MB/s (${ratio >= 1 ? 'met' : 'NOT met'})`,
  );
}

table(
  'Sealed jobs (request body; k = recipients)',
  ['job', 'sealJob ms', 'openJob ms', 'seal+open ms', 'seal MB/s', 'open MB/s', 'margin'],
  jobs.map(({ label, size }) => {
    const seal = measured(`sealJob ${label}`);
    const open = measured(`openJob ${label}`);
    return [
      label,
      seal.p50.toFixed(3),
      open.p50.toFixed(3),
      (seal.p50 + open.p50).toFixed(3),
      mbPerSecond(size, seal.p50).toFixed(1),
      mbPerSecond(size, open.p50).toFixed(1),
      `${margin(seal)} / ${margin(open)}`,
    ];
  }),
);

table(
  'Receipts (TON cell, Ed25519 through OpenSSL)',
  ['operation', 'p50 µs', 'p99 µs', 'margin'],
  [
    'receipt sign',
    'receipt verify',
    'receipt open',
    'receipt BOC read, direct',
    'receipt BOC read, @ton/core',
  ].map((name) => {
    const stats = measured(name);
    return [name, (stats.p50 * 1000).toFixed(1), (stats.p99 * 1000).toFixed(1), margin(stats)];
  }),
);
console.log(`\nbench took ${((performance.now() - started) / 1000).toFixed(1)} s`);
