/**
 * Resident memory and speed of the embedded store (Node-only by nature: reads /proc and starts processes).
 * Run: cd shared && npx tsx bench/store-memory.ts
 *
 * Each measurement runs in a fresh process, as a role would: `shipped` opens PGlite the way `cocoon-proxy`
 * does (pglite-open.ts, wasm kept at the baseline tier), `previous` the way it did before (TurboFan for wasm, 16 MB of shared buffers, 100
 * connections' worth of shared tables, the database created in-process). Per variant, one process creates the
 * database and another reopens it; each then runs the same statements: single-row upserts and primary-key
 * selects (a role's usual work), an aggregate over the table (CPU-heavy SQL), then point reads and scans of
 * an 11 MB table (more than 4 MB of shared buffers hold). Times are CPU time, the median of three rounds.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { keepWasmAtBaselineTier, openPglite } from '../src/store/pglite-open.js';
import { pgliteParsers } from '../src/store/value-parsers.js';

const VARIANTS = ['shipped', 'previous'] as const;
type Variant = (typeof VARIANTS)[number];
const PHASES = ['create', 'reopen'] as const;
type Phase = (typeof PHASES)[number];

const ROUNDS = 3;
const SINGLE_ROW_STATEMENTS = 2_000;
const AGGREGATES = 20;
const BIG_TABLE_ROWS = 60_000;
const POINT_READS = 3_000;
const SCANS = 5;
const CHILD_TIMEOUT_MS = 300_000;
const MiB = 2 ** 20;

type Sample = {
  variant: Variant;
  phase: Phase;
  openWallMs: number;
  rssOpenMiB: number;
  rssAfterMiB: number;
  peakRssMiB: number;
  upsertUs: number;
  selectUs: number;
  aggregateMs: number;
  bigTableMiB: number;
  bigPointReadUs: number;
  bigScanMs: number;
};

async function openVariant(variant: Variant, folder: string): Promise<PGlite> {
  if (variant === 'shipped') {
    keepWasmAtBaselineTier();
    return openPglite(folder, pgliteParsers);
  }
  return PGlite.create({ dataDir: folder, parsers: pgliteParsers, postgresqlconf: ['shared_buffers=16MB'] });
}

/** Resident set from the kernel (what the target counts), and the process's peak of it. */
function residentMiB(): { rss: number; peak: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1]);
  return { rss: round(kib('VmRSS') / 1024), peak: round(kib('VmHWM') / 1024) };
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * Median over ROUNDS of one step's CPU time (user and system, all threads: TurboFan's background compiles
 * count), in ms. CPU time, not wall time, because a shared machine's load would swamp the difference.
 */
async function timed(step: (round: number) => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let index = 0; index < ROUNDS; index++) {
    const started = process.cpuUsage();
    await step(index);
    const { user, system } = process.cpuUsage(started);
    times.push((user + system) / 1000);
  }
  return median(times);
}

async function measure(variant: Variant, phase: Phase, folder: string): Promise<Sample> {
  const started = performance.now();
  const pglite = await openVariant(variant, folder);
  const openWallMs = Math.round(performance.now() - started);
  const rssOpenMiB = residentMiB().rss;
  try {
    await pglite.exec('create table if not exists jobs (id bigint primary key, state text, cost numeric)');
    const upsertMs = await timed(async (round) => {
      for (let index = 0; index < SINGLE_ROW_STATEMENTS; index++)
        await pglite.query(
          `insert into jobs values ($1, $2, $3)
           on conflict (id) do update set state = excluded.state, cost = jobs.cost + 1`,
          [round * SINGLE_ROW_STATEMENTS + index, 'x'.repeat(100), index * 3],
        );
    });
    const selectMs = await timed(async () => {
      for (let index = 0; index < SINGLE_ROW_STATEMENTS; index++)
        await pglite.query('select * from jobs where id = $1', [index]);
    });
    const aggregateMs = await timed(async () => {
      for (let index = 0; index < AGGREGATES; index++)
        await pglite.query(
          `select count(*), sum(cost), string_agg(md5(state || id::text), ',' order by id) is not null from jobs`,
        );
    });
    await pglite.exec(
      `create table if not exists big (id bigint primary key, body text);
       insert into big select g, repeat(md5(g::text), 4) from generate_series(1, ${BIG_TABLE_ROWS}) g
       on conflict do nothing`,
    );
    const size = await pglite.query<{ bytes: bigint }>(`select pg_total_relation_size('big') as bytes`);
    const bigPointMs = await timed(async (round) => {
      // A stride coprime to the row count visits rows all over the table, as a cache-unfriendly reader would.
      for (let index = 0; index < POINT_READS; index++)
        await pglite.query('select body from big where id = $1', [
          1 + ((index * 7_919 + round * 13) % BIG_TABLE_ROWS),
        ]);
    });
    const bigScanMs = await timed(async () => {
      for (let index = 0; index < SCANS; index++)
        await pglite.query(`select count(*) from big where body like '%ff%'`);
    });
    const { rss, peak } = residentMiB();
    return {
      variant,
      phase,
      openWallMs,
      rssOpenMiB,
      rssAfterMiB: rss,
      peakRssMiB: peak,
      upsertUs: Math.round((upsertMs * 1000) / SINGLE_ROW_STATEMENTS),
      selectUs: Math.round((selectMs * 1000) / SINGLE_ROW_STATEMENTS),
      aggregateMs: round(aggregateMs / AGGREGATES),
      bigTableMiB: round(Number(size.rows[0]?.bytes ?? 0) / MiB),
      bigPointReadUs: Math.round((bigPointMs * 1000) / POINT_READS),
      bigScanMs: round(bigScanMs / SCANS),
    };
  } finally {
    await pglite.close();
  }
}

async function runChild(variant: Variant, phase: Phase, folder: string): Promise<Sample> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), variant, phase, folder],
    { timeout: CHILD_TIMEOUT_MS },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Sample;
}

async function main(): Promise<void> {
  const [variant, phase, folder] = process.argv.slice(2);
  if (variant !== undefined) {
    // A child: one measurement, printed as the last line.
    console.log(JSON.stringify(await measure(variant as Variant, phase as Phase, folder as string)));
    return;
  }
  const samples: Sample[] = [];
  for (const each of VARIANTS) {
    const dataDir = await mkdtemp(join(tmpdir(), `cocoon-store-memory-${each}-`));
    try {
      for (const step of PHASES) samples.push(await runChild(each, step, join(dataDir, 'pglite')));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  console.log(`node ${process.version}; RSS in MiB, CPU time per statement (median of ${ROUNDS} rounds)`);
  console.table(samples);
}

await main();
