/**
 * Time to first token added by the network: client SDK → proxy → worker → back, over loopback, minus the
 * worker's own engine on the same model and prompt. Run: npm run bench -w @cocoon/cli
 *
 * The whole embedded network runs in this process (startNetwork: sandbox chain, proxy with its store, the worker
 * with llama.cpp on the tiny random GGUF, the client SDK). Each round times one chat through the network (the
 * client lists and verifies the workers, seals, posts; the proxy admits and routes; the worker opens, runs,
 * seals; the client opens the first chunk) and, right after, the same request straight to the worker's engine.
 * The added time is taken per round, so drifting load on the machine cancels out.
 *
 * Env: COCOON_BENCH_ROUNDS (default 40).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cocoon/shared';
import { createLogger } from '@cocoon/shared/log';
import { writeTinyGguf } from '@cocoon/worker/testing';
import { startNetwork } from '../src/network.js';

/** The target for the time to first token the network adds. */
const TARGET_ADDED_TTFT_MS = 15;
const WARM_UP_ROUNDS = 3;
const rounds = Number(process.env.COCOON_BENCH_ROUNDS ?? 40);

const question = {
  messages: [
    { role: 'user' as const, content: 'Explain how a payment channel settles many payments at once.' },
  ],
  max_tokens: 8,
  temperature: 0,
};

/** Nearest-rank percentile of an unsorted sample. */
const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
};

/** Milliseconds from calling `run` until its first piece of text. */
async function timeToFirstText(run: (onText: () => void) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  let first: number | undefined;
  await run(() => {
    first ??= performance.now();
  });
  if (first === undefined) throw new Error('the answer had no text');
  return first - start;
}

const dir = await mkdtemp(join(tmpdir(), 'cocoon-bench-ttft-'));
try {
  const tiny = await writeTinyGguf(join(dir, 'tiny.gguf'), { seed: 1 });
  const network = await startNetwork({
    config: loadConfig({
      COCOON_DATA_DIR: join(dir, 'data'),
      COCOON_MODEL: tiny.path,
      WORKER_GPU: 'cpu',
      WORKER_THREADS: '1',
      WORKER_PAYOUT_ADDRESS: 'EQD__________________________________________0vo',
    }),
    log: createLogger('bench', 'silent'),
    ports: { proxy: 0, gateway: 0, workerStatus: null, app: 0 },
  });
  try {
    for (let i = 0; i < 100 && network.worker.link.state !== 'admitted'; i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    if (network.worker.link.state !== 'admitted') throw new Error('the worker was not admitted by the proxy');

    const engine = network.worker.engine.model(tiny.sha256);
    const throughNetwork = (onText: () => void) =>
      network.client.chat(question, { model: tiny.sha256, onText });
    const engineOnly = (onText: () => void) => engine.generate(question, { onText });

    /** Wall time of one step the chat takes first, timed on its own to show its part of the total. */
    const timeStep = async (step: () => Promise<unknown>) => {
      const start = performance.now();
      await step();
      return performance.now() - start;
    };

    const networkMs: number[] = [];
    const engineMs: number[] = [];
    const addedMs: number[] = [];
    const policyMs: number[] = [];
    const workersMs: number[] = [];
    for (let round = 0; round < WARM_UP_ROUNDS + rounds; round++) {
      const viaNetwork = await timeToFirstText(throughNetwork);
      const direct = await timeToFirstText(engineOnly);
      const policy = await timeStep(() => network.policy.read());
      const workers = await timeStep(() => network.client.workers(tiny.sha256));
      if (round < WARM_UP_ROUNDS) continue;
      networkMs.push(viaNetwork);
      engineMs.push(direct);
      addedMs.push(viaNetwork - direct);
      policyMs.push(policy);
      workersMs.push(workers);
    }

    const line = (label: string, values: number[]) =>
      `  ${label.padEnd(36)} p50 ${percentile(values, 50).toFixed(1).padStart(6)} ms   p95 ${percentile(
        values,
        95,
      )
        .toFixed(1)
        .padStart(6)} ms`;
    console.log(
      `time to first token over loopback, tiny random GGUF (${tiny.sha256.slice(0, 12)}), CPU, 1 thread; ` +
        `${rounds} rounds after ${WARM_UP_ROUNDS} warm-up`,
    );
    console.log(line('client SDK -> proxy -> worker', networkMs));
    console.log(line('worker engine alone', engineMs));
    console.log(line('added (per round: network - engine)', addedMs));
    console.log('  of which, timed apart:');
    console.log(line('  policy read (Root get-method)', policyMs));
    console.log(line('  workers(): policy, list, verify', workersMs));
    const added = percentile(addedMs, 50);
    console.log(
      `added ttft p50 = ${added.toFixed(1)} ms = ${(added / TARGET_ADDED_TTFT_MS).toFixed(2)} x the target of ` +
        `<= ${TARGET_ADDED_TTFT_MS} ms (${added <= TARGET_ADDED_TTFT_MS ? 'met' : 'NOT met'}); p95 ` +
        `${percentile(addedMs, 95).toFixed(1)} ms. It covers listing and verifying the workers' attestations, ` +
        'sealing (HPKE), the signed POST, admission and routing, opening the job, sealing and opening the first chunk.',
    );
  } finally {
    await network.stop();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
// The network's chain, store and worker are stopped; leave no pending handle to hold the process open.
process.exit(0);
