// Node-only by nature: opens PGlite on a folder on disk, tunes this process's V8 and may start a child process.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import type { ParserOptions, PGlite } from '@electric-sql/pglite';
import { StoreError } from './errors.js';

/**
 * Postgres settings for an embedded database, which is small and has one session. Neither trades durability
 * (that rests on the WAL, which they leave alone):
 * - shared_buffers: Postgres touches its whole page cache at start; 128 MB (the default) is ~100 MB resident
 *   and 16 MB is 12 MB more than 4 MB. The OS caches the files, so a page beyond 4 MB costs a read from it:
 *   ~15-25% slower queries on an 11 MB table read at random (bench/store-memory.ts), no change below 4 MB.
 * - max_connections: sizes the lock and process tables for 100 sessions; 5 saves ~3 MB. The one session can
 *   still hold thousands of locks (creating 1,000 tables in one transaction passes; a migration makes a few).
 */
const POSTGRES_SETTINGS = ['shared_buffers=4MB', 'max_connections=5'];

/**
 * V8 compiles PGlite's 9 MB wasm lazily with its baseline compiler (Liftoff), then recompiles the hot
 * functions with TurboFan on background threads. Those optimising compiles leave ~45 MB resident in the
 * process (malloc arenas; the code itself is a few MB). Liftoff only: single-row statements cost about the
 * same CPU (their time is the calls into wasm, not Postgres' own work), CPU-heavy SQL (sorts, aggregates,
 * scans over thousands of rows) ~1.8x more, and opening is quicker (nothing to recompile); see
 * bench/store-memory.ts. Tier-up goes off first: with it on and dynamic tiering off, V8 would recompile
 * every function with TurboFan.
 */
const WASM_BASELINE_ONLY = ['--no-wasm-tier-up', '--no-wasm-dynamic-tiering'];

/**
 * Keeps every wasm module this process compiles from now on at V8's baseline tier (see WASM_BASELINE_ONLY):
 * ~45 MB less resident memory for a process whose only wasm is its embedded database (`cocoon-proxy`), at
 * the CPU cost above. Not for a process that also runs wasm for speed (`npm start` emulates the local
 * chain's TVM in wasm). Process-wide, set at run time: Node refuses V8 flags like these in NODE_OPTIONS,
 * and a flag a later V8 drops is ignored here rather than failing the start.
 */
export function keepWasmAtBaselineTier(): void {
  for (const flag of WASM_BASELINE_ONLY) setFlagsFromString(flag);
}

/** A generous bound for initdb in the child (2-4 s on an idle machine, much longer on a loaded CI one). */
const INIT_TIMEOUT_MS = 180_000;

/**
 * Runs in the child: `node -e INIT_SCRIPT <pglite entry> <folder> <settings JSON> <V8 flags JSON>` (the -e
 * arguments start at argv[1]). A failure rejects unhandled: the child prints it and exits with code 1.
 */
const INIT_SCRIPT = `const [entry, dataDir, settings, v8Flags] = process.argv.slice(1);
for (const flag of JSON.parse(v8Flags)) require('node:v8').setFlagsFromString(flag);
require(entry).PGlite.create({ dataDir, postgresqlconf: JSON.parse(settings) }).then((pglite) => pglite.close());`;

/** Opens (creating it on first use) the PGlite database in `folder`. The caller holds the folder's lock. */
export async function openPglite(folder: string, parsers: ParserOptions): Promise<PGlite> {
  // PGlite's own test for an existing database.
  if (!existsSync(join(folder, 'PG_VERSION'))) await createInChild(folder);
  const { PGlite } = await import('@electric-sql/pglite');
  return PGlite.create({ dataDir: folder, parsers, postgresqlconf: POSTGRES_SETTINGS });
}

/**
 * Creating a database runs initdb through a second, in-memory PGlite and copies its files over: ~600 MB at
 * peak, of which a long-lived process would keep ~80 MB for good (freed wasm memory and malloc arenas do
 * not all go back). A short-lived child does it instead. It builds the database next to `folder` and we
 * rename it into place, so a crash part-way leaves no half-made database, only a staging folder that the
 * next open removes (we hold the data folder's lock, so nobody else is using it).
 */
async function createInChild(folder: string): Promise<void> {
  if ((await entriesOf(folder)).length > 0)
    throw new StoreError(
      'create_failed',
      `${folder} holds files but no database (no PG_VERSION); move it away to start afresh`,
    );
  const staging = `${folder}.init`;
  await rm(staging, { recursive: true, force: true });
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  try {
    await promisify(execFile)(
      process.execPath,
      [
        '-e',
        INIT_SCRIPT,
        entry,
        staging,
        JSON.stringify(POSTGRES_SETTINGS),
        JSON.stringify(WASM_BASELINE_ONLY),
      ],
      { timeout: INIT_TIMEOUT_MS },
    );
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new StoreError(
      'create_failed',
      `creating the embedded database in ${staging} failed${stderr ? `: ${stderr}` : ''}`,
      { cause: error },
    );
  }
  await rename(staging, folder); // replaces the empty folder, if there is one
}

async function entriesOf(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
