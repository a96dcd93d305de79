/**
 * Load side of the proxy benchmark (Node-only by nature), run as a child process so that the proxy's CPU
 * time is measured alone: N fake workers and clients that send signed jobs. Sealing is skipped: the proxy
 * never opens a job, so random bytes of the right shape cost it the same as real ciphertext.
 * - `throughput`: workers answer every job at once (one sealed-looking chunk and a really signed receipt).
 * - `memory`: HELD_JOBS jobs held open at once, their workers streaming a chunk per job every second,
 *   then all answered.
 * - `streaming`: workers stream each answer as STREAMED_CHUNKS token-sized chunks, one every
 *   CHUNK_INTERVAL_MS (as a GPU decodes), then the receipt; a closed loop of CONCURRENCY jobs.
 * This process shares the machine's cores with the proxy, so before each phase it prepares all that does
 * not depend on timing (request bodies and signatures, each job's receipts); during the phase a client only
 * sends a prepared request and a worker only looks its receipt up.
 * Protocol with the parent, one JSON line each on stdout: phase marks (start/end, held/released), result.
 */
import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { Agent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import {
  CLIENT_HEADER,
  DevAttestor,
  fromHex,
  generateSigningKeyPair,
  ModelOffer,
  randomBytes,
  receiptToCell,
  SIGNATURE_HEADER,
  signOffers,
  signPayoutAddress,
  TIME_HEADER,
  toBase64,
  toHex,
} from '@cocoon/shared';
import { generateWorkerKeyPair, hpkeKeyId } from '@cocoon/shared/crypto/hpke';
import WebSocket from 'ws';
import { percentiles } from './percentiles.js';

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
/** The streaming mode's answers: chunks per answer, and the time between two (a fast GPU's pace per token). */
const STREAMED_CHUNKS = 64;
const CHUNK_INTERVAL_MS = 2;
/** Jobs prepared per second of the closed loop: it ends early, saying so, if the proxy routes more. */
const MAX_RATE = 5000;
/**
 * Requests are signed before the closed loop, and what it leaves is sent in the open loop: their signed time
 * must stay within the proxy's 120 s of clock skew through both phases and the preparation (~0.5 ms a job).
 */
const MAX_PHASE_MS = 15_000;
if (!(phaseMs > 0 && phaseMs <= MAX_PHASE_MS))
  throw new Error(`a phase lasts over 0 and at most ${MAX_PHASE_MS / 1000} s`);
const REQUEST_TIMEOUT_MS = mode === 'memory' ? 60_000 : 10_000;

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
  const { publicKey, secretKey } = generateSigningKeyPair(seed);
  return { publicKey: toHex(publicKey), secretKey, key: nativeSigner(seed) };
}
type Signer = ReturnType<typeof keyPair>;

const CHUNK_DATA = toBase64(randomBytes(32 + 64 + 16));
/** A chunk message, as the worker protocol's JSON (all parts are hex, base64 or numbers: nothing to escape). */
const chunkMessage = (jobId: string, index: number, final: boolean) =>
  `{"type":"chunk","chunk":{"jobId":"${jobId}","index":${index},"final":${final},"data":"${CHUNK_DATA}"}}`;

/**
 * The prepared receipt message of each job, per receipt key of the workers it may be dispatched to (the
 * proxy picks one of its recipients). Clients and workers share this process, so a worker looks it up.
 */
const receiptMessages = new Map<string, Map<string, string>>();

/** A worker's answer to a job: its last chunk, then its prepared receipt. */
function answer(socket: WebSocket, jobId: string, signer: Signer, chunks = 1): void {
  const receipt = receiptMessages.get(jobId)?.get(signer.publicKey);
  if (receipt === undefined) throw new Error(`job ${jobId} dispatched to a worker it was not prepared for`);
  receiptMessages.delete(jobId);
  socket.send(chunkMessage(jobId, chunks - 1, true));
  socket.send(receipt);
}

type JobHandler = (socket: WebSocket, jobId: string, signer: Signer) => void;

/** Streams the answer a chunk at a time, CHUNK_INTERVAL_MS apart, then sends the last one and the receipt. */
const streamAnswer: JobHandler = (socket, jobId, signer) => {
  let index = 0;
  const next = () => {
    if (index === STREAMED_CHUNKS - 1) {
      answer(socket, jobId, signer, STREAMED_CHUNKS);
      return;
    }
    socket.send(chunkMessage(jobId, index++, false));
    setTimeout(next, CHUNK_INTERVAL_MS);
  };
  next();
};
interface Worker {
  keyId: string;
  signer: Signer;
}

/** The proxy's job message starts so, and names its job id (hex) once: no need to parse all of it. */
const JOB_MESSAGE_START = '{"type":"job"';
const JOB_ID_FIELD = '"jobId":"';

async function startWorker(capacity: number, onJob: JobHandler): Promise<Worker> {
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
      const text = data.toString();
      if (text.startsWith(JOB_MESSAGE_START)) {
        const at = text.indexOf(JOB_ID_FIELD) + JOB_ID_FIELD.length;
        onJob(socket, text.slice(at, text.indexOf('"', at)), signer);
        return;
      }
      const message = JSON.parse(text);
      if (message.type === 'welcome') resolve();
      else if (message.type === 'rejected') reject(new Error(message.reason));
    });
  });
  const offer = ModelOffer.parse({
    model,
    name: 'bench',
    pricePerToken: '1',
    priceCoefficient: 10000,
    contextSize: 4096,
  });
  socket.send(
    JSON.stringify({
      type: 'hello',
      v: 1,
      bundle,
      models: [ModelOffer.encode(offer)],
      payoutAddress: `0:${signer.publicKey}`,
      payoutSignature: signPayoutAddress(`0:${signer.publicKey}`, signer.secretKey),
      offersSignature: signOffers([offer], signer.secretKey),
      load: { activeJobs: 0, capacity },
    }),
  );
  await welcomed;
  return { keyId: hpkeKeyId(hpke.publicKey), signer };
}

const clients = Array.from({ length: CLIENTS }, keyPair);
const BODY = toBase64(randomBytes(512));
const ENC = toBase64(randomBytes(32));
const WRAPPED = toBase64(randomBytes(48));

/** A job's signed request, ready to send. */
interface PreparedJob {
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

/** A worker's signed receipt message for a job, as it would send it once the job is done. */
function receiptMessage(jobId: string, client: string, worker: Signer, time: number): string {
  const cell = receiptToCell({
    jobId,
    client,
    model,
    promptTokens: 10,
    completionTokens: 20,
    pricePerToken: 1n,
    amount: 30n,
    requestHash: toHex(randomBytes(32)),
    responseHash: toHex(randomBytes(32)),
    worker: worker.publicKey,
    time,
  });
  const signature = sign(null, cell.hash(), worker.key);
  return JSON.stringify({
    type: 'receipt',
    jobId,
    receipt: { boc: toBase64(cell.toBoc()), signature: toBase64(signature) },
  });
}

/** Jobs prepared so far: a job's number picks its client and its recipients. */
let prepared = 0;
/** Prepares `count` jobs signed at this second, and their receipts from each recipient's worker. */
function prepareJobs(workers: Worker[], count: number): PreparedJob[] {
  const time = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, () => {
    const n = prepared++;
    const client = clients[n % CLIENTS] as (typeof clients)[number];
    const recipients = [...new Set([0, 1, 2].map((k) => workers[(n + k * 7) % workers.length] as Worker))];
    const jobId = toHex(randomBytes(16));
    const job = {
      header: {
        v: 1,
        jobId,
        model,
        client: client.publicKey,
        maxTokens: 100,
        maxCost: '1000000',
        expiresAt: time + 300,
      },
      recipients: recipients.map((worker) => ({ keyId: worker.keyId, enc: ENC, wrappedKey: WRAPPED })),
      body: BODY,
    };
    receiptMessages.set(
      jobId,
      new Map(
        recipients.map((worker) => [
          worker.signer.publicKey,
          receiptMessage(jobId, client.publicKey, worker.signer, time),
        ]),
      ),
    );
    const body = Buffer.from(JSON.stringify(job));
    const signed = Buffer.concat([
      Buffer.from(`cocoon/request/v1\nPOST\n/v1/jobs\n${time}\n`),
      createHash('sha256').update(body).digest(),
    ]);
    return {
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        [CLIENT_HEADER]: client.publicKey,
        [TIME_HEADER]: String(time),
        [SIGNATURE_HEADER]: sign(null, signed, client.key).toString('base64'),
      },
      body,
    };
  });
}

/** How long each phase's preparation took (outside any measured window). */
const preparation: { jobs: number; ms: number }[] = [];
function prepareTimed(workers: Worker[], count: number): PreparedJob[] {
  const started = performance.now();
  const jobs = prepareJobs(workers, count);
  preparation.push({ jobs: count, ms: performance.now() - started });
  return jobs;
}

/**
 * Keep-alive connections, as many as jobs are in flight (a closed loop never has more than CONCURRENCY; an
 * open loop's jobs never wait here for a connection, so its latencies are the proxy's).
 */
const agent = new Agent({ keepAlive: true });
const { hostname, port } = new URL(baseUrl);

/**
 * One job: POST, read the NDJSON answer to its receipt; returns the latency in ms. `onFirstChunk` is called
 * when the answer's first chunk arrives (then only the answer's tail is kept: it may stream for long).
 */
function runJob(job: PreparedJob, onFirstChunk?: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = httpRequest(
      { agent, hostname, port, method: 'POST', path: '/v1/jobs', headers: job.headers },
      (response) => {
        let text = '';
        let seenChunk = false;
        response.setEncoding('utf8');
        response.on('data', (piece: string) => {
          text = seenChunk ? text.slice(-4096) + piece : text + piece;
          if (onFirstChunk !== undefined && !seenChunk && text.includes('"type":"chunk"')) {
            seenChunk = true;
            onFirstChunk();
          }
        });
        response.on('error', fail);
        response.on('end', () => {
          clearTimeout(timeout);
          if (response.statusCode === 200 && text.includes('"type":"receipt"')) {
            resolve(performance.now() - started);
          } else {
            reject(new Error(`job failed: ${response.statusCode} ${text.slice(0, 200)}`));
          }
        });
      },
    );
    const timeout = setTimeout(
      () => request.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)),
      REQUEST_TIMEOUT_MS,
    );
    function fail(error: Error) {
      clearTimeout(timeout);
      reject(error);
    }
    request.on('error', fail);
    request.end(job.body);
  });
}

/** As many jobs as CONCURRENCY loops can run in the phase, or until the prepared jobs run out. */
async function closedLoop(jobs: PreparedJob[]) {
  const latencies: number[] = [];
  const end = performance.now() + phaseMs;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end && next < jobs.length) {
        latencies.push(await runJob(jobs[next++] as PreparedJob));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { jobs: latencies.length, seconds, ranOut: next === jobs.length, ...percentiles(latencies) };
}

/** Jobs started at a fixed rate, whatever the answers' timing (open loop, so queueing shows in latency). */
async function openLoop(jobs: PreparedJob[], rate: number) {
  const latencies: number[] = [];
  const running: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < phaseMs) {
    const due = Math.min(jobs.length, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; sent < due; sent++) {
      running.push(runJob(jobs[sent] as PreparedJob).then((ms) => void latencies.push(ms)));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(running);
  return { rate, jobs: latencies.length, ...percentiles(latencies) };
}

/** Workers that hold every job open, streaming a chunk per job each STREAM_INTERVAL_MS, until released. */
function holdingWorkers() {
  const held: { socket: WebSocket; jobId: string; signer: Signer; chunks: number }[] = [];
  const streaming = setInterval(() => {
    for (const job of held) job.socket.send(chunkMessage(job.jobId, job.chunks++, false));
  }, STREAM_INTERVAL_MS);
  return {
    onJob: ((socket, jobId, signer) => {
      socket.send(chunkMessage(jobId, 0, false));
      held.push({ socket, jobId, signer, chunks: 1 });
    }) satisfies JobHandler,
    release() {
      clearInterval(streaming);
      for (const job of held.splice(0)) answer(job.socket, job.jobId, job.signer, job.chunks + 1);
    },
  };
}

if (mode === 'memory') {
  const holding = holdingWorkers();
  const capacity = Math.ceil((HELD_JOBS * 2) / workerCount);
  const workers: Worker[] = [];
  for (let i = 0; i < workerCount; i++) workers.push(await startWorker(capacity, holding.onJob));
  const jobs = prepareJobs(workers, HELD_JOBS);
  let streaming = 0;
  let allStreaming: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    allStreaming = resolve;
  });
  const answered = Promise.all(
    jobs.map((job) =>
      runJob(job, () => {
        if (++streaming === HELD_JOBS) allStreaming();
      }),
    ),
  );
  await held;
  emit({ phase: 'held', jobs: HELD_JOBS });
  await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
  emit({ phase: 'released' });
  holding.release();
  await answered;
  emit({ result: { jobs: HELD_JOBS } });
} else if (mode === 'streaming') {
  const capacity = Math.max(4, Math.ceil((CONCURRENCY * 2) / workerCount));
  const workers: Worker[] = [];
  for (let i = 0; i < workerCount; i++) workers.push(await startWorker(capacity, streamAnswer));
  // At most CONCURRENCY answers of STREAMED_CHUNKS × CHUNK_INTERVAL_MS each at once, and twice that to spare.
  const jobs = prepareTimed(
    workers,
    Math.ceil(((CONCURRENCY * phaseMs) / (STREAMED_CHUNKS * CHUNK_INTERVAL_MS)) * 2),
  );
  await Promise.all(prepareJobs(workers, CONCURRENCY).map((job) => runJob(job)));
  emit({ phase: 'streaming-start' });
  const streamed = await closedLoop(jobs);
  emit({ phase: 'streaming-end' });
  emit({ result: { ...streamed, chunks: streamed.jobs * STREAMED_CHUNKS, chunksPerJob: STREAMED_CHUNKS } });
} else {
  const capacity = Math.max(4, Math.ceil((CONCURRENCY * 2) / workerCount));
  const workers: Worker[] = [];
  for (let i = 0; i < workerCount; i++) workers.push(await startWorker(capacity, answer));
  const closedLoopJobs = prepareTimed(workers, Math.ceil((MAX_RATE * phaseMs) / 1000));
  // Warm up the JIT and the connection pool.
  await Promise.all(prepareJobs(workers, CONCURRENCY).map((job) => runJob(job)));
  emit({ phase: 'throughput-start' });
  const cpuStart = process.cpuUsage();
  const throughput = await closedLoop(closedLoopJobs);
  const cpu = process.cpuUsage(cpuStart);
  emit({ phase: 'throughput-end', jobs: throughput.jobs });
  const loadCpuMsPerJob = (cpu.user + cpu.system) / 1000 / throughput.jobs;
  const halfRate = Math.max(1, Math.round(throughput.jobs / throughput.seconds / 2));
  // The jobs the closed loop left, and more only where it used over two thirds of them.
  const openLoopCount = Math.ceil((halfRate * phaseMs) / 1000);
  const openLoopJobs = closedLoopJobs.slice(throughput.jobs, throughput.jobs + openLoopCount);
  if (openLoopJobs.length < openLoopCount) {
    openLoopJobs.push(...prepareTimed(workers, openLoopCount - openLoopJobs.length));
  }
  const atHalfRate = await openLoop(openLoopJobs, halfRate);
  emit({ result: { workers: workerCount, throughput, atHalfRate, loadCpuMsPerJob, preparation } });
}
process.exit(0);
