/**
 * Proxy benchmark (Node-only by nature). Run: npm run bench -w @cocoon/proxy
 * A real proxy (PGlite store in a temp folder, or the Postgres server of DATABASE_URL; receipts verified
 * and persisted) in this process; fake workers and clients in a child process (bench/load.ts), so the
 * proxy's CPU time is measured alone.
 * - Throughput: for 1, 10 and 100 workers, routed jobs/s over a closed loop of 64 concurrent jobs, the
 *   proxy's CPU time per job (and the jobs/s one core would route at that cost), and end-to-end latency
 *   p50/p99 at half that rate (an upper bound of the latency the proxy adds: the fake engine answers at once);
 *   and the load process's own CPU time per job (it shares the cores: near the proxy's, it limits the figure);
 *   with credit reservations in memory (routing alone), then in the store as `cocoon-proxy` keeps them.
 * - Memory: the proxy's RSS with 1,000 jobs in flight (workers streaming slowly), against its target.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes, toHex } from '@cocoon/shared';
import { openStore } from '@cocoon/shared/store/index';
import { fixedAllowance, MemoryCredit, StoreCredit } from '../src/credit.js';
import type { ProxyDb } from '../src/db.js';
import { StaticPolicySource } from '../src/policy.js';
import { CocoonProxy } from '../src/proxy.js';

const PHASE_SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,10,100').split(',').map(Number);
/** Set to a folder to write a CPU profile of the proxy during each throughput phase. */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
/** A Postgres server to use instead of an embedded PGlite store per phase (its tables are shared). */
const DATABASE_URL = process.env.DATABASE_URL;
const MEMORY_WORKERS = 100;
const CREDITS = ['memory', 'store'] as const;
type Credit = (typeof CREDITS)[number];
const RSS_TARGET_MB = 200;

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
 * A proxy on loopback over a fresh store, with limits far above the load so that only capacity shows.
 * `existingStore`: the store is created by another process first, so this one only opens it.
 * `credit`: reservations in memory, or rows in the store as `cocoon-proxy` keeps them.
 */
async function withProxy<T>(
  run: (proxy: CocoonProxy, model: string) => Promise<T>,
  options: { existingStore?: boolean; credit?: Credit } = {},
): Promise<T> {
  const dataDir = await mkdtemp(join(os.tmpdir(), 'cocoon-proxy-bench-'));
  if (options.existingStore && DATABASE_URL === undefined) await runScript('bench/init-store.ts', [dataDir]);
  const store = await openStore<ProxyDb>({
    dataDir,
    ...(DATABASE_URL === undefined ? {} : { databaseUrl: DATABASE_URL }),
  });
  const model = toHex(randomBytes(32));
  const proxy = await CocoonProxy.start(
    {
      store,
      policySource: new StaticPolicySource({
        allowDev: true,
        imageHashes: [],
        models: [model],
        acceptedTcbStatuses: ['UpToDate'],
      }),
      credit:
        options.credit === 'store'
          ? new StoreCredit(store.db, fixedAllowance(10n ** 18n))
          : new MemoryCredit(fixedAllowance(10n ** 18n)),
      limits: {
        maxQueuePerModel: 10_000,
        maxJobsPerClient: 10_000,
        clientRatePerSecond: 1e6,
        clientBurst: 1_000_000,
        heartbeatTimeoutMs: 600_000,
      },
    },
    { host: '127.0.0.1', port: 0 },
  );
  try {
    return await run(proxy, model);
  } finally {
    await proxy.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Runs a TypeScript file in a child process; resolves with its exit code. */
function runScript(file: string, args: string[], onLine?: (line: string) => Promise<void> | void) {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
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

async function throughputPhase(
  workers: number,
  credit: Credit,
): Promise<{ result: LoadResult; cpuMsPerJob: number }> {
  return withProxy(
    async (proxy, model) => {
      let cpuStart = process.cpuUsage();
      let cpuMs = 0;
      const profiler = PROFILE_DIR === undefined ? undefined : new Session();
      const result = (await runLoad(
        ['throughput', proxy.url, String(workers), String(PHASE_SECONDS), model],
        async (message) => {
          if (message.phase === 'throughput-start') {
            if (profiler) {
              profiler.connect();
              await profiler.post('Profiler.enable');
              await profiler.post('Profiler.start');
            }
            cpuStart = process.cpuUsage();
          }
          if (message.phase === 'throughput-end') {
            const used = process.cpuUsage(cpuStart);
            cpuMs = (used.user + used.system) / 1000;
            if (profiler) {
              const { profile } = await profiler.post('Profiler.stop');
              await writeFile(
                join(PROFILE_DIR as string, `proxy-${credit}-${workers}.cpuprofile`),
                JSON.stringify(profile),
              );
              profiler.disconnect();
            }
          }
        },
      )) as LoadResult;
      return { result, cpuMsPerJob: cpuMs / result.throughput.jobs };
    },
    { credit },
  );
}

/**
 * The proxy process's RSS (MB): before the store is opened (Node, tsx and the modules), with the proxy
 * idle (plus the embedded database and the listening proxy), and its peak while 1,000 jobs are held open.
 */
async function memoryPhase(): Promise<{ bareMb: number; idleMb: number; peakMb: number; jobs: number }> {
  const rssMb = () => process.memoryUsage.rss() / 2 ** 20;
  const bareMb = rssMb();
  return withProxy(
    async (proxy, model) => {
      const idleMb = rssMb();
      let peakMb = 0;
      let sampler: NodeJS.Timeout | undefined;
      const result = (await runLoad(
        ['memory', proxy.url, String(MEMORY_WORKERS), String(PHASE_SECONDS), model],
        (message) => {
          if (message.phase === 'held') {
            const sample = () => {
              peakMb = Math.max(peakMb, rssMb());
            };
            sample();
            sampler = setInterval(sample, 100);
          }
          if (message.phase === 'released') clearInterval(sampler);
        },
      )) as { jobs: number };
      clearInterval(sampler);
      return { bareMb, idleMb, peakMb, jobs: result.jobs };
    },
    { existingStore: true },
  );
}

const cpus = os.cpus();
// First, while this process is fresh: the throughput phases leave a grown heap behind.
const memory = await memoryPhase();
console.log(`proxy benchmark: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, Node ${process.version}`);
console.log(
  `store: ${DATABASE_URL === undefined ? 'embedded PGlite' : 'Postgres server (DATABASE_URL)'}; phases of ` +
    `${PHASE_SECONDS}s; closed loop of 64 jobs in flight, then an open loop at half that rate\n`,
);
console.log(
  'credit  workers  jobs/s   CPU ms/job   jobs/s per core   load CPU ms/job   p50 ms   p99 ms   (closed loop)   at rate   p50 ms   p99 ms',
);
const preparations: LoadResult['preparation'] = [];
let ranOut = false;
for (const credit of CREDITS) {
  for (const workers of WORKER_COUNTS) {
    const { result, cpuMsPerJob } = await throughputPhase(workers, credit);
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
      ].join(' '),
    );
  }
}
const slowest = preparations.reduce((a, b) => (b.ms > a.ms ? b : a));
console.log(
  `\nload side: jobs signed, with their receipts, before each phase (outside its window): up to ` +
    `${(slowest.ms / 1000).toFixed(1)} s for ${slowest.jobs} jobs`,
);
if (ranOut) console.log('* the closed loop used all the jobs prepared for it: the proxy may route more');
const mb = (value: number) => `${value.toFixed(0)} MB`;
console.log(
  `\nmemory, proxy RSS: ${mb(memory.bareMb)} before its store, ${mb(memory.idleMb)} idle, ` +
    `${mb(memory.peakMb)} peak with ${memory.jobs} jobs in flight on ${MEMORY_WORKERS} workers ` +
    `(+${mb(memory.peakMb - memory.idleMb)}); target ≤ ${RSS_TARGET_MB} MB: ` +
    `${((memory.peakMb / RSS_TARGET_MB) * 100).toFixed(0)}% of it`,
);
