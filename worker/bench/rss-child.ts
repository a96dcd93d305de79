/**
 * One side of the worker bench's memory figure, run in a fresh process by engine.bench.ts (never by hand):
 *
 *   rss-child.ts worker <model.gguf> <gpu> <threads> <jobs>   the whole worker (startWorker) serving sealed jobs
 *   rss-child.ts bare <model.gguf> <gpu> <threads> <contextSize> <sequences>   bare node-llama-cpp, same model
 *
 * <threads> 0 leaves the choice to node-llama-cpp. Prints one JSON line: RSS and heap after a full GC (run with --expose-gc), and for `worker` the context the
 * engine chose, so that `bare` can load the very same one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadConfig,
  PROTOCOL_VERSION,
  randomBytes,
  sealJob,
  systemClock,
  toHex,
  unixSeconds,
  utf8,
} from '@cocoon/shared';
import { createLogger } from '@cocoon/shared/log';
import { LlamaChat } from 'node-llama-cpp';
import { chatWrapperFor, toChatHistory } from '../src/engine/chat-prompt.js';
import { type GpuChoice, loadLlama } from '../src/engine/llama-engine.js';
import type { ChatRequest } from '../src/engine/request.js';
import { serveJob } from '../src/node/serve-job.js';
import { startWorker } from '../src/runtime.js';

export interface RssSample {
  rssBytes: number;
  heapUsedBytes: number;
  contextSize: number;
  sequences: number;
}

export const RSS_REQUEST: ChatRequest = {
  messages: [{ role: 'user', content: 'Explain how a payment channel settles many payments at once.' }],
  max_tokens: 64,
  temperature: 0,
};

function sample(contextSize: number, sequences: number): RssSample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rssBytes: rss, heapUsedBytes: heapUsed, contextSize, sequences };
}

async function measureWorker(modelPath: string, gpu: GpuChoice, threads: number, jobs: number) {
  const dataDir = await mkdtemp(join(tmpdir(), 'cocoon-bench-rss-'));
  try {
    const worker = await startWorker({
      config: loadConfig({
        COCOON_DATA_DIR: dataDir,
        COCOON_MODEL: modelPath,
        WORKER_GPU: gpu,
        ...(threads > 0 ? { WORKER_THREADS: String(threads) } : {}),
        // Nothing listens there: the link keeps retrying, as a worker does while its proxy is away.
        PROXY_URL: 'http://127.0.0.1:9',
        WORKER_PAYOUT_ADDRESS: 'EQD__________________________________________0vo',
      }),
      log: createLogger('bench', 'silent'),
      statusPort: null,
    });
    const [model] = worker.engine.models;
    if (model === undefined) throw new Error('the worker loaded no model');
    for (let job = 0; job < jobs; job++) {
      const header = {
        v: PROTOCOL_VERSION,
        jobId: toHex(randomBytes(16)),
        model: model.id,
        client: toHex(randomBytes(32)),
        maxTokens: RSS_REQUEST.max_tokens ?? 64,
        maxCost: 10n ** 12n,
        expiresAt: unixSeconds() + 600,
      };
      const { sealed } = await sealJob(header, utf8(JSON.stringify(RSS_REQUEST)), [
        worker.identity.current.hpke.publicKey,
      ]);
      const deps = {
        identity: worker.identity,
        engine: worker.engine,
        offers: worker.offers,
        clock: systemClock,
      };
      const outcome = await serveJob(sealed, deps, () => {}, new AbortController().signal);
      if (outcome.kind !== 'served') throw new Error(`sealed job ${outcome.kind}`);
    }
    const result = sample(model.contextSize, model.parallelJobs);
    await worker.stop();
    return result;
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function measureBare(
  modelPath: string,
  gpu: GpuChoice,
  threads: number,
  contextSize: number,
  sequences: number,
) {
  const llama = await loadLlama(gpu);
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize, sequences, ...(threads > 0 ? { threads } : {}) });
  // One generation, so llama.cpp's compute buffers are in both figures: they belong to the model, not the worker.
  const sequence = context.getSequence();
  const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: chatWrapperFor(model) });
  await chat.generateResponse(toChatHistory(RSS_REQUEST.messages), {
    maxTokens: RSS_REQUEST.max_tokens ?? 64,
  });
  const result = sample(contextSize, sequences);
  chat.dispose();
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return result;
}

const [mode, modelPath, gpu, threads, ...rest] = process.argv.slice(2);
if (modelPath === undefined || gpu === undefined || threads === undefined)
  throw new Error('see the usage above');
const result =
  mode === 'worker'
    ? await measureWorker(modelPath, gpu as GpuChoice, Number(threads), Number(rest[0] ?? 20))
    : await measureBare(modelPath, gpu as GpuChoice, Number(threads), Number(rest[0]), Number(rest[1]));
console.log(JSON.stringify(result));
// The worker's link timers and llama's threads are gone; exit without waiting on anything left.
process.exit(0);
