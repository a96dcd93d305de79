/**
 * Proxy benchmark (Node-only by nature). Run: npm run bench -w @cocoon/proxy
 * A real proxy (PGlite store in a temp folder, or the Postgres server of DATABASE_URL; receipts verified
 * and persisted) in this process for the throughput phases, in a process of its own for the memory phase;
 * fake workers and clients in a child process (bench/load.ts), so the proxy's CPU time is measured alone.
 * - Throughput: for 1, 10 and 100 workers, routed jobs/s over a closed loop of 64 concurrent jobs, the
 *   proxy's CPU time per job (and the jobs/s one core would route at that cost), and end-to-end latency
 *   p50/p99 at half that rate (an upper bound of the latency the proxy adds: the fake engine answers at once);
 *   as the proxy sees it (a request's arrival to its answer's end), and less each job's worker's turn (what the
 *   proxy's `cocoon_proxy_added_seconds` observes: the latency the proxy adds, which the target bounds);
 *   and the load process's own CPU time per job (it shares the cores: near the proxy's, it limits the figure);
 *   with credit reservations in memory (routing alone), then leased from the store as `cocoon-proxy` takes them.
 * - Streaming: answers of 64 token-sized chunks, one every 2 ms per job, 64 jobs in flight: chunks forwarded
 *   per second and the proxy's CPU time per chunk (a real answer is a chunk per token or per 8 ms).
 * - Memory: the RSS of a proxy process as `cocoon-proxy` runs (bundled, on plain Node, PGlite's wasm kept at
 *   V8's baseline tier; BENCH_WASM_TIER_UP=1 lets it tier up) with 1,000 jobs in flight (workers streaming
 *   slowly), against its target.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openStore } from '@cocoon/shared/store/index';
import { bundleProxy, proxyDir } from '../scripts/build.js';
import type { ProxyDb } from '../src/db.js';
import type { CocoonProxy } from '../src/proxy.js';
import { CREDITS, type Credit, startBenchProxy } from './bench-proxy.js';
import { type Percentiles, percentiles } from './percentiles.js';

const PHASE_SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,10,100').split(',').map(Number);
/** Where credit reservations are kept (`memory`, `store`, or both, comma-separated; default both). */
const CREDIT_PLACES = (process.env.BENCH_CREDIT ?? CREDITS.join(',')).split(',').map((place) => {
  if (!(CREDITS as readonly string[]).includes(place))
    throw new Error(`BENCH_CREDIT: no credit place ${place}`);
  return place as Credit;
});
/** Set to a folder to write a CPU profile of the proxy during each throughput and streaming phase. */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
/** A Postgres server to use instead of an embedded PGlite store per phase (its tables are shared). */
const DATABASE_URL = process.env.DATABASE_URL;
const MEMORY_WORKERS = 100;
/** PGlite's wasm in the memory phase's proxy: kept at V8's baseline tier as `cocoon-proxy` does, or not. */
const WASM_TIER = process.env.BENCH_WASM_TIER_UP === '1' ? 'tier-up' : 'baseline';
const RSS_TARGET_MB = 200;
/**
 * The load side's scheduling priority (nice). It stands in for clients and workers on other machines; on these
 * shared cores, at the proxy's priority, each message it is woken for preempts the proxy it measures.
 * BENCH_LOAD_NICE=0 runs it at the proxy's priority.
 */
const LOAD_NICE = Number(process.env.BENCH_LOAD_NICE ?? 10);

interface LoadResult {
  workers: number;
  /** `ranOut`: the closed loop used all the jobs prepared for it, so the proxy may route more. */
  throughput: { jobs: number; seconds: number; ranOut: boolean; p50: number; p99: number };
  atHalfRate: { rate: number; jobs: number; p50: number; p99: number };
  /** The load process's own CPU time per job in the closed loop: near the proxy's, it limits the figure. */
  loadCpuMsPerJob: number;
  /** Jobs signed, with their receipts, before each phase, and how long it took. */
  preparation: { jobs: number; ms: number }[];
}

interface LoadMessage {
  phase?: string;
  result?: unknown;
}

/**
 * The benchmark's proxy (bench/bench-proxy.ts) in this process, over a fresh store.
 * `credit`: reservations in memory, or leased from the store as `cocoon-proxy` takes them (StoreCredit).
 */
async function withProxy<T>(
  run: (proxy: CocoonProxy, model: string) => Promise<T>,
  credit: Credit,
): Promise<T> {
  const dataDir = await mkdtemp(join(os.tmpdir(), 'cocoon-proxy-bench-'));
  const store = await openStore<ProxyDb>({
    dataDir,
    ...(DATABASE_URL === undefined ? {} : { databaseUrl: DATABASE_URL }),
  });
  const { proxy, model } = await startBenchProxy(store, credit);
  try {
    return await run(proxy, model);
  } finally {
    await proxy.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Runs a TypeScript file in a child process at LOAD_NICE; resolves with its exit code. */
function runScript(file: string, args: string[], onLine?: (line: string) => Promise<void> | void) {
  // through nice(1), so that every thread of the child (V8's GC helpers, the thread pool) runs at that priority
  const child = spawn('nice', ['-n', String(LOAD_NICE), process.execPath, '--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return (async () => {
    for await (const line of createInterface({ input: child.stdout })) await onLine?.(line);
    return exited;
  })();
}

/** Runs bench/load.ts against the proxy, handing each JSON line it prints to `onMessage`. */
async function runLoad(
  args: string[],
  onMessage: (message: LoadMessage) => Promise<void> | void,
): Promise<unknown> {
  let result: unknown;
  const code = await runScript('bench/load.ts', args, async (line) => {
    const message = JSON.parse(line) as LoadMessage;
    await onMessage(message);
    if (message.result !== undefined) result = message.result;
  });
  if (result === undefined) throw new Error(`the load process ended (code ${code}) without a result`);
  return result;
}

/**
 * This process's CPU time (ms) from start() to stop(), and a CPU profile of it written to
 * PROFILE_DIR/<name>.cpuprofile when BENCH_PROFILE_DIR is set.
 */
function cpuWindow(name: string) {
  const profiler = PROFILE_DIR === undefined ? undefined : new Session();
  let cpuStart = process.cpuUsage();
  return {
    async start(): Promise<void> {
      if (profiler) {
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
      }
      cpuStart = process.cpuUsage();
    },
    async stop(): Promise<number> {
      const used = process.cpuUsage(cpuStart);
      if (profiler) {
        const { profile } = await profiler.post('Profiler.stop');
        await writeFile(join(PROFILE_DIR as string, `${name}.cpuprofile`), JSON.stringify(profile));
        profiler.disconnect();
      }
      return (used.user + used.system) / 1000;
    },
  };
}

async function throughputPhase(
  workers: number,
  credit: Credit,
): Promise<{ result: LoadResult; cpuMsPerJob: number; atProxy: Percentiles; added: Percentiles }> {
  return withProxy(async (proxy, model) => {
    let cpuMs = 0;
    // The open loop's jobs as the proxy sees them: from a request's arrival to its answer's last byte
    // handed to the socket (the latency it adds, the fake worker's instant answer included).
    const atProxyMs: number[] = [];
    // The same jobs less their worker's turn (dispatch to receipt): what the proxy's added-latency metric
    // observes, each value kept here.
    const addedMs: number[] = [];
    let timing = false;
    proxy.server.prependListener('request', (req, res) => {
      if (!timing || req.method !== 'POST') return;
      const started = performance.now();
      res.once('finish', () => atProxyMs.push(performance.now() - started));
    });
    const added = proxy.metrics.addedLatency;
    const observe = added.observe.bind(added) as (seconds: number) => void;
    added.observe = ((seconds: number) => {
      if (timing) addedMs.push(seconds * 1000);
      observe(seconds);
    }) as typeof added.observe;
    const window = cpuWindow(`proxy-${credit}-${workers}`);
    const result = (await runLoad(
      ['throughput', proxy.url, String(workers), String(PHASE_SECONDS), model],
      async (message) => {
        if (message.phase === 'throughput-start') await window.start();
        if (message.phase === 'throughput-end') {
          timing = true;
          cpuMs = await window.stop();
        }
      },
    )) as LoadResult;
    return {
      result,
      cpuMsPerJob: cpuMs / result.throughput.jobs,
      atProxy: percentiles(atProxyMs),
      added: percentiles(addedMs),
    };
  }, credit);
}

interface StreamingResult {
  jobs: number;
  seconds: number;
  chunks: number;
  chunksPerJob: number;
}
const STREAMING_WORKERS = 10;

/**
 * Answers streamed as a GPU decodes (bench/load.ts `streaming`: a chunk every 2 ms), credit leased from the
 * store: chunks forwarded per second and the proxy's CPU time for them.
 */
async function streamingPhase(): Promise<{ result: StreamingResult; cpuMs: number }> {
  return withProxy(async (proxy, model) => {
    const window = cpuWindow('proxy-streaming');
    let cpuMs = 0;
    const result = (await runLoad(
      ['streaming', proxy.url, String(STREAMING_WORKERS), String(PHASE_SECONDS), model],
      async (message) => {
        if (message.phase === 'streaming-start') await window.start();
        if (message.phase === 'streaming-end') cpuMs = await window.stop();
      },
    )) as StreamingResult;
    return { result, cpuMs };
  }, 'store');
}

/** The resident memory (MB) of process `pid`, as the kernel counts it (VmRSS). */
function residentMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) / 1024;
}

/**
 * The RSS (MB) of a proxy process as `cocoon-proxy` runs (bench/proxy-process.ts, bundled as scripts/build.ts
 * bundles the proxy, on plain Node): before its store is opened (Node and the modules), idle (plus the
 * store and the listening proxy), and its peak, sampled every 100 ms, while 1,000 jobs are held open.
 * It opens an existing store, as a restarted proxy does, without the creation's memory in its process.
 */
async function memoryPhase(): Promise<{ bareMb: number; idleMb: number; peakMb: number; jobs: number }> {
  const dataDir = await mkdtemp(join(os.tmpdir(), 'cocoon-proxy-bench-'));
  // Inside the package, so that the bundle's third-party imports resolve from its node_modules.
  await mkdir(join(proxyDir, 'dist'), { recursive: true });
  const bundleDir = await mkdtemp(join(proxyDir, 'dist', 'bench-'));
  try {
    if (DATABASE_URL === undefined) await runScript('bench/init-store.ts', [dataDir]);
    const { outFile } = await bundleProxy({
      entry: join(proxyDir, 'bench', 'proxy-process.ts'),
      outFile: join(bundleDir, 'proxy-process.mjs'),
    });
    const child = spawn(process.execPath, [outFile, dataDir, WASM_TIER], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    try {
      const first = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next();
      if (first.done) throw new Error('the proxy process ended before it was listening');
      const ready = JSON.parse(first.value) as { url: string; model: string; rssBeforeStoreMb: number };
      const pid = child.pid as number;
      const idleMb = residentMb(pid);
      let peakMb = 0;
      let sampler: NodeJS.Timeout | undefined;
      const result = (await runLoad(
        ['memory', ready.url, String(MEMORY_WORKERS), String(PHASE_SECONDS), ready.model],
        (message) => {
          if (message.phase === 'held') {
            const sample = () => {
              peakMb = Math.max(peakMb, residentMb(pid));
            };
            sample();
            sampler = setInterval(sample, 100);
          }
          if (message.phase === 'released') clearInterval(sampler);
        },
      )) as { jobs: number };
      clearInterval(sampler);
      return { bareMb: ready.rssBeforeStoreMb, idleMb, peakMb, jobs: result.jobs };
    } finally {
      child.stdin.end();
      await exited;
    }
  } finally {
    await rm(bundleDir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  }
}

const cpus = os.cpus();
const memory = await memoryPhase();
console.log(`proxy benchmark: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, Node ${process.version}`);
console.log(
  `store: ${DATABASE_URL === undefined ? 'embedded PGlite' : 'Postgres server (DATABASE_URL)'}; phases of ` +
    `${PHASE_SECONDS}s; closed loop of 64 jobs in flight, then an open loop at half that rate; load side at ` +
    `nice ${LOAD_NICE}\n`,
);
console.log(
  'credit  workers  jobs/s   CPU ms/job   jobs/s per core   load CPU ms/job   p50 ms   p99 ms   (closed loop)   at rate   p50 ms   p99 ms   at the proxy: p50 ms   p99 ms   added: p50 ms   p99 ms',
);
const preparations: LoadResult['preparation'] = [];
/** Proxy CPU ms per job of each routing phase, by `credit/workers`. */
const cpuMsPerJobOf = new Map<string, number>();
let ranOut = false;
for (const credit of CREDIT_PLACES) {
  for (const workers of WORKER_COUNTS) {
    const { result, cpuMsPerJob, atProxy, added } = await throughputPhase(workers, credit);
    cpuMsPerJobOf.set(`${credit}/${workers}`, cpuMsPerJob);
    const { throughput, atHalfRate } = result;
    const rate = throughput.jobs / throughput.seconds;
    preparations.push(...result.preparation);
    ranOut ||= throughput.ranOut;
    console.log(
      [
        credit.padEnd(6),
        String(workers).padStart(7),
        `${rate.toFixed(0)}${throughput.ranOut ? '*' : ''}`.padStart(7),
        cpuMsPerJob.toFixed(3).padStart(12),
        (1000 / cpuMsPerJob).toFixed(0).padStart(17),
        result.loadCpuMsPerJob.toFixed(3).padStart(17),
        throughput.p50.toFixed(2).padStart(8),
        throughput.p99.toFixed(2).padStart(8),
        ''.padStart(15),
        String(atHalfRate.rate).padStart(9),
        atHalfRate.p50.toFixed(2).padStart(8),
        atHalfRate.p99.toFixed(2).padStart(8),
        atProxy.p50.toFixed(2).padStart(22),
        atProxy.p99.toFixed(2).padStart(8),
        added.p50.toFixed(2).padStart(15),
        added.p99.toFixed(2).padStart(8),
      ].join(' '),
    );
  }
}
const streaming = await streamingPhase();
{
  const { result, cpuMs } = streaming;
  const oneChunkJobMs = cpuMsPerJobOf.get(`store/${STREAMING_WORKERS}`);
  const beyond =
    oneChunkJobMs === undefined
      ? ''
      : `, ${(((cpuMs - result.jobs * oneChunkJobMs) / (result.chunks - result.jobs)) * 1000).toFixed(1)} µs ` +
        'per chunk beyond a one-chunk job (the store phase above)';
  console.log(
    `\nstreaming (credit in the store, ${STREAMING_WORKERS} workers, answers of ${result.chunksPerJob} chunks 2 ms ` +
      `apart, 64 in flight): ${(result.jobs / result.seconds).toFixed(0)} jobs/s, ` +
      `${(result.chunks / result.seconds).toFixed(0)} chunks/s; proxy CPU ${((cpuMs / result.chunks) * 1000).toFixed(1)} µs ` +
      `per chunk${beyond}`,
  );
}
const slowest = preparations.reduce((a, b) => (b.ms > a.ms ? b : a));
console.log(
  `\nload side: jobs signed, with their receipts, before each phase (outside its window): up to ` +
    `${(slowest.ms / 1000).toFixed(1)} s for ${slowest.jobs} jobs`,
);
if (ranOut) console.log('* the closed loop used all the jobs prepared for it: the proxy may route more');
const mb = (value: number) => `${value.toFixed(0)} MB`;
const memoryStore =
  DATABASE_URL !== undefined
    ? 'Postgres server'
    : `PGlite, its wasm ${WASM_TIER === 'baseline' ? "kept at V8's baseline tier" : 'tiering up'}`;
console.log(
  `\nmemory, proxy process (bundled, plain node ${process.version}, ${memoryStore}): RSS ${mb(memory.bareMb)} before its store, ${mb(memory.idleMb)} idle, ` +
    `${mb(memory.peakMb)} peak with ${memory.jobs} jobs in flight on ${MEMORY_WORKERS} workers ` +
    `(+${mb(memory.peakMb - memory.idleMb)}); target ≤ ${RSS_TARGET_MB} MB: ` +
    `${((memory.peakMb / RSS_TARGET_MB) * 100).toFixed(0)}% of it`,
);
