/**
 * Load side of the proxy benchmark (Node-only by nature), run as a child process so that the proxy's CPU
 * time is measured alone: N fake workers and clients that send signed jobs. Sealing is skipped: the proxy
 * never opens a job, so random bytes of the right shape cost it the same as real ciphertext.
 * - `throughput`: workers answer every job at once (one sealed-looking chunk and a really signed receipt).
 * - `memory`: HELD_JOBS jobs held open at once, their workers streaming a chunk per job every second,
 *   then all answered.
 * Protocol with the parent, one JSON line each on stdout: phase marks (start/end, held/released), result.
 */
import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import {
  CLIENT_HEADER,
  DevAttestor,
  fromHex,
  generateSigningKeyPair,
  type Receipt,
  randomBytes,
  receiptToCell,
  SIGNATURE_HEADER,
  TIME_HEADER,
  toBase64,
  toHex,
  utf8,
} from '@cocoon/shared';
import { generateWorkerKeyPair, hpkeKeyId } from '@cocoon/shared/crypto/hpke';
import WebSocket from 'ws';

const [mode = 'throughput', baseUrl = '', workerCountText = '1', secondsText = '3', modelArg = ''] =
  process.argv.slice(2);
const workerCount = Number(workerCountText);
const phaseMs = Number(secondsText) * 1000;
const model = modelArg;
const CONCURRENCY = 64;
const CLIENTS = 16;
/** Jobs in flight at once in the memory mode (the target: proxy RSS with 1,000 jobs in flight). */
const HELD_JOBS = 1000;
const HOLD_MS = 3000;
const STREAM_INTERVAL_MS = 1000;

const emit = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);

/** Node's native Ed25519 from a 32-byte seed (PKCS#8 wrapping), far cheaper than pure JS for the load side. */
const PKCS8_ED25519_PREFIX = fromHex('302e020100300506032b657004220420');
function nativeSigner(seed: Uint8Array): KeyObject {
  const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + seed.length);
  der.set(PKCS8_ED25519_PREFIX);
  der.set(seed, PKCS8_ED25519_PREFIX.length);
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
}
function keyPair() {
  const seed = randomBytes(32);
  return { publicKey: toHex(generateSigningKeyPair(seed).publicKey), key: nativeSigner(seed) };
}

const CHUNK_DATA = toBase64(randomBytes(32 + 64 + 16));

type Signer = ReturnType<typeof keyPair>;
type JobHeader = { jobId: string; client: string; model: string };
type JobHandler = (socket: WebSocket, header: JobHeader, signer: Signer) => void;

async function startWorker(capacity: number, onJob: JobHandler): Promise<string> {
  const hpke = await generateWorkerKeyPair();
  const signer = keyPair();
  const bundle = await new DevAttestor().attest({
    hpkePublicKey: toHex(hpke.publicKey),
    signPublicKey: signer.publicKey,
    models: [model],
    notAfter: Math.floor(Date.now() / 1000) + 3600,
  });
  const socket = new WebSocket(`${baseUrl.replace('http', 'ws')}/v1/worker`);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const welcomed = new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.type === 'welcome') resolve();
      else if (message.type === 'rejected') reject(new Error(message.reason));
      else if (message.type === 'job') onJob(socket, message.job.header, signer);
    });
  });
  socket.send(
    JSON.stringify({
      type: 'hello',
      v: 1,
      bundle,
      models: [{ model, name: 'bench', pricePerToken: '1', priceCoefficient: 10000, contextSize: 4096 }],
      payoutAddress: `0:${signer.publicKey}`,
      load: { activeJobs: 0, capacity },
    }),
  );
  await welcomed;
  return hpkeKeyId(hpke.publicKey);
}

const sendChunk = (socket: WebSocket, jobId: string, index: number, final: boolean) =>
  socket.send(JSON.stringify({ type: 'chunk', chunk: { jobId, index, final, data: CHUNK_DATA } }));

/** The answer's last chunk and its receipt. */
function answer(socket: WebSocket, header: JobHeader, signer: Signer, chunks = 1): void {
  sendChunk(socket, header.jobId, chunks - 1, true);
  const receipt: Receipt = {
    jobId: header.jobId,
    client: header.client,
    model: header.model,
    promptTokens: 10,
    completionTokens: 20,
    pricePerToken: 1n,
    amount: 30n,
    requestHash: toHex(randomBytes(32)),
    responseHash: toHex(randomBytes(32)),
    worker: signer.publicKey,
    time: Math.floor(Date.now() / 1000),
  };
  const cell = receiptToCell(receipt);
  const signature = sign(null, cell.hash(), signer.key);
  socket.send(
    JSON.stringify({
      type: 'receipt',
      jobId: header.jobId,
      receipt: { boc: toBase64(cell.toBoc()), signature: toBase64(signature) },
    }),
  );
}

const clients = Array.from({ length: CLIENTS }, keyPair);
const BODY = toBase64(randomBytes(512));
const ENC = toBase64(randomBytes(32));
const WRAPPED = toBase64(randomBytes(48));

/**
 * One job: POST, read the NDJSON answer to its receipt; returns the latency in ms. `onFirstChunk` is called
 * when the answer's first chunk arrives.
 */
async function runJob(keyIds: string[], n: number, onFirstChunk?: () => void): Promise<number> {
  const client = clients[n % CLIENTS] as (typeof clients)[number];
  const recipients = [0, 1, 2]
    .map((i) => keyIds[(n + i * 7) % keyIds.length] as string)
    .filter((keyId, i, all) => all.indexOf(keyId) === i)
    .map((keyId) => ({ keyId, enc: ENC, wrappedKey: WRAPPED }));
  const job = {
    header: {
      v: 1,
      jobId: toHex(randomBytes(16)),
      model,
      client: client.publicKey,
      maxTokens: 100,
      maxCost: '1000000',
      expiresAt: Math.floor(Date.now() / 1000) + 300,
    },
    recipients,
    body: BODY,
  };
  const body = Buffer.from(JSON.stringify(job));
  const time = Math.floor(Date.now() / 1000);
  const signed = Buffer.concat([
    utf8(`cocoon/request/v1\nPOST\n/v1/jobs\n${time}\n`),
    createHash('sha256').update(body).digest(),
  ]);
  const started = performance.now();
  const response = await fetch(`${baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [CLIENT_HEADER]: client.publicKey,
      [TIME_HEADER]: String(time),
      [SIGNATURE_HEADER]: sign(null, signed, client.key).toString('base64'),
    },
    body,
    signal: AbortSignal.timeout(mode === 'memory' ? 60_000 : 10_000),
  });
  const text =
    onFirstChunk === undefined ? await response.text() : await readStreaming(response, onFirstChunk);
  if (response.status !== 200 || !text.includes('"type":"receipt"')) {
    throw new Error(`job ${n} failed: ${response.status} ${text.slice(0, 200)}`);
  }
  return performance.now() - started;
}

/** Reads an NDJSON answer as it streams; keeps its beginning up to the first chunk, then only its tail. */
async function readStreaming(response: Response, onFirstChunk: () => void): Promise<string> {
  let text = '';
  let seenChunk = false;
  const reader = (response.body ?? new ReadableStream()).pipeThrough(new TextDecoderStream()).getReader();
  // Ends with the answer (or the request's timeout).
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    text = seenChunk ? text.slice(-4096) + read.value : text + read.value;
    if (!seenChunk && text.includes('"type":"chunk"')) {
      seenChunk = true;
      onFirstChunk();
    }
  }
  return text;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
const summary = (latencies: number[]) => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
};

/** As many jobs as CONCURRENCY loops can run in the phase. */
async function closedLoop(keyIds: string[]) {
  const latencies: number[] = [];
  const end = performance.now() + phaseMs;
  let n = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) latencies.push(await runJob(keyIds, n++));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { jobs: latencies.length, seconds, ...summary(latencies) };
}

/** Jobs started at a fixed rate, whatever the answers' timing (open loop, so queueing shows in latency). */
async function openLoop(keyIds: string[], rate: number) {
  const latencies: number[] = [];
  const running: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < phaseMs) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; sent < due; sent++) running.push(runJob(keyIds, sent).then((ms) => void latencies.push(ms)));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(running);
  return { rate, jobs: latencies.length, ...summary(latencies) };
}

/** Workers that hold every job open, streaming a chunk per job each STREAM_INTERVAL_MS, until released. */
function holdingWorkers() {
  const held: { socket: WebSocket; header: JobHeader; signer: Signer; chunks: number }[] = [];
  const streaming = setInterval(() => {
    for (const job of held) sendChunk(job.socket, job.header.jobId, job.chunks++, false);
  }, STREAM_INTERVAL_MS);
  return {
    onJob: ((socket, header, signer) => {
      sendChunk(socket, header.jobId, 0, false);
      held.push({ socket, header, signer, chunks: 1 });
    }) satisfies JobHandler,
    release() {
      clearInterval(streaming);
      for (const job of held.splice(0)) answer(job.socket, job.header, job.signer, job.chunks + 1);
    },
  };
}

if (mode === 'memory') {
  const workers = holdingWorkers();
  const capacity = Math.ceil((HELD_JOBS * 2) / workerCount);
  const keyIds: string[] = [];
  for (let i = 0; i < workerCount; i++) keyIds.push(await startWorker(capacity, workers.onJob));
  let streaming = 0;
  let allStreaming: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    allStreaming = resolve;
  });
  const jobs = Promise.all(
    Array.from({ length: HELD_JOBS }, (_, n) =>
      runJob(keyIds, n, () => {
        if (++streaming === HELD_JOBS) allStreaming();
      }),
    ),
  );
  await held;
  emit({ phase: 'held', jobs: HELD_JOBS });
  await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
  emit({ phase: 'released' });
  workers.release();
  await jobs;
  emit({ result: { jobs: HELD_JOBS } });
} else {
  const capacity = Math.max(4, Math.ceil((CONCURRENCY * 2) / workerCount));
  const keyIds: string[] = [];
  for (let i = 0; i < workerCount; i++) keyIds.push(await startWorker(capacity, answer));
  // Warm up the JIT and the connection pool.
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => runJob(keyIds, i)));
  emit({ phase: 'throughput-start' });
  const throughput = await closedLoop(keyIds);
  emit({ phase: 'throughput-end', jobs: throughput.jobs });
  const halfRate = Math.max(1, Math.round(throughput.jobs / throughput.seconds / 2));
  const atHalfRate = await openLoop(keyIds, halfRate);
  emit({ result: { workers: workerCount, throughput, atHalfRate } });
}
process.exit(0);
