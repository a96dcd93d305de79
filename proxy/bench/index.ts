/**
 * Proxy benchmark (Node-only by nature). Run: npm run bench -w @cocoon/proxy
 * A real proxy (PGlite store in a temp folder, receipts verified and persisted) in this process; fake
 * workers and clients in a child process (bench/load.ts). For 1, 10 and 100 workers it prints routed
 * jobs/s over a closed loop of 64 concurrent jobs, the proxy's CPU time per job, and end-to-end latency
 * p50/p99 at half that rate (an upper bound of the latency the proxy adds: the fake engine answers at once).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes, toHex } from '@cocoon/shared';
import { openStore } from '@cocoon/shared/store/index';
import { fixedAllowance, MemoryCredit } from '../src/credit.js';
import type { ProxyDb } from '../src/db.js';
import { StaticPolicySource } from '../src/policy.js';
import { CocoonProxy } from '../src/proxy.js';

const PHASE_SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,10,100').split(',').map(Number);
/** Set to a folder to write a CPU profile of the proxy during each throughput phase. */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;

interface LoadResult {
  workers: number;
  throughput: { jobs: number; seconds: number; p50: number; p99: number };
  atHalfRate: { rate: number; jobs: number; p50: number; p99: number };
}

async function runPhase(workers: number): Promise<{ result: LoadResult; cpuMsPerJob: number }> {
  const dataDir = await mkdtemp(join(os.tmpdir(), 'cocoon-proxy-bench-'));
  const store = await openStore<ProxyDb>({ dataDir });
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
      credit: new MemoryCredit(fixedAllowance(10n ** 18n)),
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
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/load.ts', proxy.url, String(workers), String(PHASE_SECONDS), model],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let cpuStart = process.cpuUsage();
    let cpuMs = 0;
    let result: LoadResult | undefined;
    const profiler = PROFILE_DIR === undefined ? undefined : new Session();
    for await (const line of createInterface({ input: child.stdout })) {
      const message = JSON.parse(line) as { phase?: string; result?: LoadResult; jobs?: number };
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
            join(PROFILE_DIR as string, `proxy-${workers}.cpuprofile`),
            JSON.stringify(profile),
          );
          profiler.disconnect();
        }
      }
      if (message.result) result = message.result;
    }
    if (result === undefined) throw new Error('the load process ended without a result');
    return { result, cpuMsPerJob: cpuMs / result.throughput.jobs };
  } finally {
    await proxy.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const cpus = os.cpus();
console.log(`proxy benchmark: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, Node ${process.version}`);
console.log(
  `phases of ${PHASE_SECONDS}s; closed loop of 64 jobs in flight, then an open loop at half that rate\n`,
);
console.log('workers  jobs/s   CPU ms/job   p50 ms   p99 ms   (closed loop)   at rate   p50 ms   p99 ms');
for (const workers of WORKER_COUNTS) {
  const { result, cpuMsPerJob } = await runPhase(workers);
  const { throughput, atHalfRate } = result;
  const rate = throughput.jobs / throughput.seconds;
  console.log(
    [
      String(workers).padStart(7),
      rate.toFixed(0).padStart(7),
      cpuMsPerJob.toFixed(3).padStart(12),
      throughput.p50.toFixed(2).padStart(8),
      throughput.p99.toFixed(2).padStart(8),
      ''.padStart(15),
      String(atHalfRate.rate).padStart(9),
      atHalfRate.p50.toFixed(2).padStart(8),
      atHalfRate.p99.toFixed(2).padStart(8),
    ].join(' '),
  );
}
