/**
 * Load side of the proxy benchmark (Node-only by nature), run as a child process so that the proxy's CPU
 * time is measured alone: N fake workers that answer every job at once (one sealed-looking chunk and a
 * really signed receipt) and clients that send signed jobs. Sealing is skipped: the proxy never opens a
 * job, so random bytes of the right shape cost it the same as real ciphertext.
 * Protocol with the parent, one JSON line each on stdout: ready, phase (start/end marks), result.
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

const [baseUrl = '', workerCountText = '1', secondsText = '3', modelArg = ''] = process.argv.slice(2);
const workerCount = Number(workerCountText);
const phaseMs = Number(secondsText) * 1000;
const model = modelArg;
const CONCURRENCY = 64;
const CLIENTS = 16;

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

async function startWorker(capacity: number): Promise<string> {
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
      else if (message.type === 'job') answer(socket, message.job.header, signer);
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

function answer(
  socket: WebSocket,
  header: { jobId: string; client: string; model: string },
  signer: { publicKey: string; key: KeyObject },
): void {
  socket.send(
    JSON.stringify({
      type: 'chunk',
      chunk: { jobId: header.jobId, index: 0, final: true, data: CHUNK_DATA },
    }),
  );
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

/** One job: POST, read the NDJSON answer to its receipt; returns the latency in ms. */
async function runJob(keyIds: string[], n: number): Promise<number> {
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
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200 || !text.includes('"type":"receipt"')) {
    throw new Error(`job ${n} failed: ${response.status} ${text.slice(0, 200)}`);
  }
  return performance.now() - started;
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

const capacity = Math.max(4, Math.ceil((CONCURRENCY * 2) / workerCount));
const keyIds: string[] = [];
for (let i = 0; i < workerCount; i++) keyIds.push(await startWorker(capacity));
// Warm up the JIT and the connection pool.
await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => runJob(keyIds, i)));
emit({ phase: 'throughput-start' });
const throughput = await closedLoop(keyIds);
emit({ phase: 'throughput-end', jobs: throughput.jobs });
const halfRate = Math.max(1, Math.round(throughput.jobs / throughput.seconds / 2));
const atHalfRate = await openLoop(keyIds, halfRate);
emit({ result: { workers: workerCount, throughput, atHalfRate } });
process.exit(0);
