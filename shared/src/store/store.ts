// Node-only by nature: opens a PGlite data folder on disk (node:fs) or a Postgres server over TCP (pg).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Dialect, Kysely, PostgresDialect, sql } from 'kysely';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { lockDataDir } from './data-dir-lock.js';
import { StoreError } from './errors.js';
import { type MigrationSet, migrate } from './migrate.js';
import { pgliteDialect } from './pglite-dialect.js';
import { openPglite } from './pglite-open.js';
import { pgliteParsers, pgTypes } from './value-parsers.js';

export type StoreKind = 'pglite' | 'postgres';

export type Store<DB> = {
  readonly kind: StoreKind;
  readonly db: Kysely<DB>;
  /** Applies the set's pending migrations; returns the names it applied (none when up to date). */
  migrate(set: MigrationSet): Promise<string[]>;
  /** Closes the connections (and, for PGlite, the data folder and its lock). */
  close(): Promise<void>;
};

export type StoreOptions = {
  /** A Postgres server to share between processes; unset = embedded PGlite in `dataDir`. */
  databaseUrl?: string;
  /** The node's data folder; PGlite keeps its database in `<dataDir>/pglite`. */
  dataDir: string;
  log?: Logger;
};

const optionsSchema = z.object({
  databaseUrl: z
    .string()
    .refine(
      (text) => /^postgres(ql)?:\/\//.test(text) && URL.canParse(text),
      'a postgres:// or postgresql:// URL',
    )
    .optional(),
  dataDir: z.string().min(1),
});

/** Pool size per process against a Postgres server; a role's work is short statements. */
const POSTGRES_POOL_SIZE = 10;

export async function openStore<DB = unknown>(options: StoreOptions): Promise<Store<DB>> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    // The URL may hold a password, so the message names the problem and never echoes the input.
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new StoreError('invalid_options', `invalid store options: ${problems.join('; ')}`);
  }
  const { databaseUrl, dataDir } = parsed.data;
  const log = options.log;
  if (databaseUrl !== undefined) {
    const store = storeOver<DB>('postgres', await postgresDialect(databaseUrl, log), log, async () => {});
    try {
      await sql`select 1`.execute(store.db); // fail at startup, not at the first request
    } catch (error) {
      await store.close();
      throw error;
    }
    log?.info('connected to Postgres');
    return store;
  }

  await mkdir(dataDir, { recursive: true });
  const lock = await lockDataDir(dataDir, join(dataDir, 'pglite.lock'));
  try {
    const pglite = await openPglite(join(dataDir, 'pglite'), pgliteParsers);
    log?.info({ dataDir }, 'opened embedded database');
    return storeOver<DB>('pglite', pgliteDialect(pglite, log), log, () => lock.release());
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function postgresDialect(databaseUrl: string, log: Logger | undefined): Promise<Dialect> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: POSTGRES_POOL_SIZE, types: pgTypes });
  // An idle client can lose its server (restart, network); pg then emits this and the pool replaces it.
  pool.on('error', (error) => log?.warn({ err: error.message }, 'idle Postgres connection failed'));
  // A client in use emits the same error itself (its query fails on its own); unheard, it would crash the process.
  pool.on('connect', (client) =>
    client.on('error', (error) => log?.warn({ err: error.message }, 'Postgres connection failed')),
  );
  return new PostgresDialect({ pool });
}

function storeOver<DB>(
  kind: StoreKind,
  dialect: Dialect,
  log: Logger | undefined,
  afterClose: () => Promise<void>,
): Store<DB> {
  const db = new Kysely<DB>({ dialect });
  let closing: Promise<void> | undefined;
  return {
    kind,
    db,
    migrate: (set) => migrate(db as Kysely<unknown>, set, log),
    close: () => {
      closing ??= db.destroy().finally(afterClose);
      return closing;
    },
  };
}
