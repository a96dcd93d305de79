/**
 * Decode speed and time to first token: bare node-llama-cpp vs the same request through the Engine, and
 * through the whole sealed worker path (client seals, the worker opens, runs, seals every piece, signs the
 * receipt; the client opens every chunk). Same model file, prompt and settings, alternating runs in one process;
 * ratios are taken per round (each path right after the other), so a machine whose load drifts compares like
 * with like. Then the worker's memory beyond the model, from two fresh processes (bench/rss-child.ts).
 *
 *   npx tsx bench/engine.bench.ts                      # the tiny random model, CPU
 *   COCOON_BENCH_MODEL=/models/x.gguf COCOON_BENCH_GPU=cuda npx tsx bench/engine.bench.ts
 *   COCOON_BENCH_MODEL=random:tinyllama COCOON_BENCH_GPU=cuda npx tsx bench/engine.bench.ts   # offline
 *
 * Env: COCOON_BENCH_MODEL (path, hf: URI, or random:<shape> for a random-weight model of a real one's size,
 * written first; shapes in src/testing/random-gguf.ts), COCOON_BENCH_GPU (auto|cpu|cuda|vulkan, default cpu
 * for the tiny model, auto otherwise), COCOON_BENCH_TOKENS (default 200), COCOON_BENCH_ROUNDS (default 11),
 * COCOON_BENCH_THREADS (default: 1 for the tiny model, node-llama-cpp's choice otherwise).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AnswerEvent,
  ChunkOpener,
  DevAttestor,
  fromUtf8,
  type ModelOffer,
  PROTOCOL_VERSION,
  randomBytes,
  sealJob,
  systemClock,
  toHex,
  unixSeconds,
  utf8,
} from '@cocoon/shared';
import { LlamaChat, type LlamaContext } from 'node-llama-cpp';
import { chatWrapperFor, toChatHistory } from '../src/engine/chat-prompt.js';
import { type GpuChoice, LlamaEngine, loadLlama } from '../src/engine/llama-engine.js';
import type { ChatRequest } from '../src/engine/request.js';
import { resolveModel } from '../src/models/resolve-model.js';
import { WorkerIdentity } from '../src/node/identity.js';
import { COALESCE_MS, serveJob } from '../src/node/serve-job.js';
import {
  RANDOM_GGUF_SHAPES,
  type RandomGgufShape,
  writeRandomGguf,
  writeTinyGguf,
} from '../src/testing/random-gguf.js';
import type { RssSample } from './rss-child.js';

interface Run {
  ttftMs: number;
  tokens: number;
  decodeTokensPerSecond: number;
  /** Process CPU time (every thread: JavaScript, llama.cpp, crypto) per token; steadier than wall time under load. */
  cpuUsPerToken: number;
}

const source = process.env.COCOON_BENCH_MODEL;
const gpu = (process.env.COCOON_BENCH_GPU ?? (source ? 'auto' : 'cpu')) as GpuChoice;
const maxTokens = Number(process.env.COCOON_BENCH_TOKENS ?? 200);
const rounds = Number(process.env.COCOON_BENCH_ROUNDS ?? 11);
const threads = process.env.COCOON_BENCH_THREADS
  ? Number(process.env.COCOON_BENCH_THREADS)
  : source
    ? undefined
    : 1;
const contextSize = Math.max(512, maxTokens + 256);

const request: ChatRequest = {
  messages: [
    { role: 'system', content: 'You write long, detailed answers.' },
    {
      role: 'user',
      content: 'Explain in a few paragraphs how a payment channel settles many payments at once.',
    },
  ],
  max_tokens: maxTokens,
  temperature: 0,
};

/** Times one streamed generation: first text chunk, then tokens per second over the rest. */
async function timed(generate: (onText: () => void) => Promise<number>): Promise<Run> {
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  let first: number | undefined;
  let last = start;
  const tokens = await generate(() => {
    last = performance.now();
    first ??= last;
  });
  const cpu = process.cpuUsage(cpuBefore);
  const firstAt = first ?? last;
  return {
    ttftMs: firstAt - start,
    tokens,
    decodeTokensPerSecond: last > firstAt ? ((tokens - 1) * 1000) / (last - firstAt) : 0,
    cpuUsPerToken: (cpu.user + cpu.system) / Math.max(1, tokens),
  };
}

/** The targets. */
const TARGET_DECODE_RATIO = 0.97;
const TARGET_RSS_BEYOND_MODEL_MB = 150;
const MB = 1e6;
const RSS_JOBS = 20;

const RANDOM_PREFIX = 'random:';

/** A model file from a path or hf: URI, or a random-weight one written into `workDir` for `random:<shape>`. */
async function benchModel(source: string, workDir: string) {
  if (!source.startsWith(RANDOM_PREFIX)) return resolveModel(source);
  const shape = source.slice(RANDOM_PREFIX.length);
  if (!Object.hasOwn(RANDOM_GGUF_SHAPES, shape)) {
    throw new Error(
      `COCOON_BENCH_MODEL=${source}: no such shape; one of ${Object.keys(RANDOM_GGUF_SHAPES).join(', ')}`,
    );
  }
  const started = performance.now();
  const model = await writeRandomGguf(join(workDir, `${shape}.gguf`), {
    shape: shape as RandomGgufShape,
    contextLength: contextSize,
  });
  console.log(`wrote ${model.path} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return model;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

async function main(): Promise<void> {
  const workDir = await mkdtemp(join(tmpdir(), 'cocoon-bench-'));
  try {
    const model = source
      ? await benchModel(source, workDir)
      : await writeTinyGguf(join(workDir, 'tiny.gguf'), { seed: 1 });
    const llama = await loadLlama(gpu);
    const engine = await LlamaEngine.create({
      llama,
      threads,
      models: [{ path: model.path, sha256: model.sha256, contextSize, parallelJobs: 1 }],
    });
    const engineModel = engine.model(model.sha256);

    // The bare path: node-llama-cpp's own chat API on its own load of the same file.
    const bareModel = await llama.loadModel({ modelPath: model.path });
    const bareContext: LlamaContext = await bareModel.createContext({ contextSize, threads });
    const chatWrapper = chatWrapperFor(bareModel);
    const bare = (onText: () => void) => {
      const sequence = bareContext.getSequence();
      const chat = new LlamaChat({ contextSequence: sequence, chatWrapper });
      let tokens = 0;
      return chat
        .generateResponse(toChatHistory(request.messages), {
          maxTokens,
          temperature: 0,
          repeatPenalty: false,
          onToken: (chunk) => {
            tokens += chunk.length;
          },
          onTextChunk: onText,
        })
        .then(() => tokens)
        .finally(() => {
          chat.dispose();
          sequence.dispose();
        });
    };
    const throughEngine = (onText: () => void) =>
      engineModel.generate(request, { onText }).then((generation) => generation.usage.completionTokens);

    const identity = await WorkerIdentity.create({
      attestor: new DevAttestor(),
      models: [model.sha256],
      lifetimeSeconds: 3600,
      clock: systemClock,
    });
    const offer: ModelOffer = {
      model: model.sha256,
      name: 'bench',
      pricePerToken: 20n,
      priceCoefficient: 10_000,
      promptMultiplier: 10_000,
      completionMultiplier: 10_000,
      contextSize,
    };
    const chunkCounts: number[] = [];
    const sealedPath = async (onText: () => void) => {
      const header = {
        v: PROTOCOL_VERSION,
        jobId: toHex(randomBytes(16)),
        model: model.sha256,
        client: toHex(randomBytes(32)),
        maxTokens,
        maxCost: 10n ** 12n,
        expiresAt: unixSeconds() + 600,
      };
      const { sealed, jobKey } = await sealJob(header, utf8(JSON.stringify(request)), [
        identity.current.hpke.publicKey,
      ]);
      const opener = new ChunkOpener(jobKey, header.jobId);
      let opening = Promise.resolve();
      let chunks = 0;
      const outcome = await serveJob(
        sealed,
        { identity, engine, offers: new Map([[model.sha256, offer]]), clock: systemClock },
        (chunk) => {
          chunks++;
          opening = opening.then(async () => {
            const event = AnswerEvent.parse(JSON.parse(fromUtf8(await opener.open(chunk))));
            if (event.type === 'text') onText();
          });
        },
        new AbortController().signal,
      );
      await opening;
      if (outcome.kind !== 'served') throw new Error(`sealed job ${outcome.kind}`);
      chunkCounts.push(chunks);
      return outcome.completionTokens;
    };

    await timed(bare); // warm-up: first-use allocations are not what we measure
    await timed(throughEngine);
    await timed(sealedPath);
    const results: { bare: Run[]; engine: Run[]; sealed: Run[] } = { bare: [], engine: [], sealed: [] };
    for (let round = 0; round < rounds; round++) {
      results.bare.push(await timed(bare));
      results.engine.push(await timed(throughEngine));
      results.sealed.push(await timed(sealedPath));
    }

    const summary = (runs: Run[]) => ({
      tokens: median(runs.map((run) => run.tokens)),
      ttftMs: median(runs.map((run) => run.ttftMs)),
      decodeTokensPerSecond: median(runs.map((run) => run.decodeTokensPerSecond)),
      cpuUsPerToken: median(runs.map((run) => run.cpuUsPerToken)),
    });
    /** One path's decode rate over bare's in the same round, for each round, sorted. */
    const roundRatios = (runs: Run[]) =>
      runs
        .map((run, i) => run.decodeTokensPerSecond / (results.bare[i] as Run).decodeTokensPerSecond)
        .sort((a, b) => a - b);
    const pairedRatio = (runs: Run[]) => median(roundRatios(runs));
    const bareSummary = summary(results.bare);
    const engineSummary = summary(results.engine);
    const sealedSummary = summary(results.sealed);
    console.log(
      `model ${model.path} (${model.sha256.slice(0, 12)}), gpu ${engine.gpu}, threads ${threads ?? 'auto'}`,
    );
    console.log(`${rounds} rounds, ${maxTokens} max tokens, greedy; medians:`);
    for (const [name, s] of [
      ['bare node-llama-cpp', bareSummary],
      ['through the Engine', engineSummary],
      ['sealed worker path', sealedSummary],
    ] as const) {
      console.log(
        `  ${name.padEnd(20)} ${s.decodeTokensPerSecond.toFixed(1).padStart(9)} tok/s  ttft ${s.ttftMs.toFixed(1).padStart(7)} ms  ` +
          `CPU ${s.cpuUsPerToken.toFixed(0).padStart(4)} µs/token  (${s.tokens} tokens)`,
      );
    }
    console.log(
      `  sealed path: ${median(chunkCounts).toFixed(0)} chunks per answer (pieces within ${COALESCE_MS} ms share one); ` +
        `it adds ${(sealedSummary.cpuUsPerToken - bareSummary.cpuUsPerToken).toFixed(0)} µs of CPU per token ` +
        '(HPKE, sealing, opening, JSON, the receipt: both ends, in this process)',
    );
    console.log(
      `decode ratio engine/bare = ${pairedRatio(results.engine).toFixed(3)}; ` +
        `ttft ratio bare/engine = ${(bareSummary.ttftMs / engineSummary.ttftMs).toFixed(3)}`,
    );
    const ratio = pairedRatio(results.sealed);
    const sealedRatios = roundRatios(results.sealed);
    const quartile = (q: number) =>
      (sealedRatios[Math.floor(q * (sealedRatios.length - 1))] as number).toFixed(3);
    console.log(
      `decode ratio sealed/bare = ${ratio.toFixed(3)} = ${(ratio / TARGET_DECODE_RATIO).toFixed(2)} x the target of ` +
        `>= ${TARGET_DECODE_RATIO} (${ratio >= TARGET_DECODE_RATIO ? 'met' : 'NOT met'}; rounds ${quartile(0.25)}` +
        `-${quartile(0.75)} between quartiles); ` +
        `ttft bare ${bareSummary.ttftMs.toFixed(1)} ms vs sealed ${sealedSummary.ttftMs.toFixed(1)} ms ` +
        '(in one process: seal, open, serve, no network)',
    );

    await bareContext.dispose();
    await bareModel.dispose();
    await engine.close();
    await llama.dispose();

    await reportMemory(model.path, gpu, threads);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

const runChild = promisify(execFile);

/** RSS of one fresh process running bench/rss-child.ts in the given mode. */
async function rssOf(args: string[]): Promise<RssSample> {
  const child = new URL('./rss-child.ts', import.meta.url).pathname;
  const { stdout } = await runChild(process.execPath, [...process.execArgv, '--expose-gc', child, ...args], {
    timeout: 5 * 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as RssSample;
}

/**
 * Worker RSS beyond the model: the whole worker (startWorker, after serving sealed jobs) minus bare
 * node-llama-cpp holding the same model and context, each in a fresh process after a full GC.
 */
async function reportMemory(modelPath: string, gpuChoice: GpuChoice, threadCount: number | undefined) {
  const threadArg = String(threadCount ?? 0);
  const worker = await rssOf(['worker', modelPath, gpuChoice, threadArg, String(RSS_JOBS)]);
  const bare = await rssOf([
    'bare',
    modelPath,
    gpuChoice,
    threadArg,
    String(worker.contextSize),
    String(worker.sequences),
  ]);
  const beyondMb = (worker.rssBytes - bare.rssBytes) / MB;
  const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
  console.log(
    `memory: worker RSS beyond the model = ${beyondMb.toFixed(1)} MB = ` +
      `${(beyondMb / TARGET_RSS_BEYOND_MODEL_MB).toFixed(2)} x the target of <= ${TARGET_RSS_BEYOND_MODEL_MB} MB ` +
      `(${beyondMb <= TARGET_RSS_BEYOND_MODEL_MB ? 'met' : 'NOT met'})`,
  );
  console.log(
    `  method: two fresh processes, same model file, context (${worker.contextSize} tokens x ${worker.sequences} ` +
      `sequences) and threads, RSS after a full GC. Whole worker (startWorker: engine, attested identity, ` +
      `proxy link, after serving ${RSS_JOBS} sealed jobs) ${mb(worker.rssBytes)}, heap ${mb(worker.heapUsedBytes)}; ` +
      `bare node-llama-cpp (model, context, one generation) ${mb(bare.rssBytes)}, heap ${mb(bare.heapUsedBytes)}; ` +
      'two runs of one process differ by a few MB.',
  );
}

await main();
