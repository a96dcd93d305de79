// Node-only by nature: part of the store, which opens PGlite data folders and Postgres connections.
import { type Kysely, type Migration, Migrator } from 'kysely';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { StoreError } from './errors.js';

export type { Migration };

/**
 * One role's migrations (proxy, bot, worker, chain watcher). Each set keeps its own bookkeeping table,
 * `<name>_migrations`, so several roles can share one database. Migrations run in name order: prefix them
 * with a zero-padded number ('0001_jobs').
 */
export type MigrationSet = { name: string; migrations: Record<string, Migration> };

const migrationSetSchema = z.object({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,39}$/, 'a lowercase SQL identifier of at most 40 characters (it names tables)'),
  migrations: z.record(
    z.string().min(1).max(200),
    z.custom<Migration>(
      (value) => typeof value === 'object' && value !== null && typeof (value as Migration).up === 'function',
      'a migration object with an up(db) function',
    ),
  ),
});

/**
 * Applies the set's pending migrations in one transaction and returns their names. Kysely's Postgres
 * adapter holds a session advisory lock meanwhile (one lock id for every set), so processes that start
 * at once against one Postgres apply each migration once.
 */
export async function migrate(db: Kysely<unknown>, set: MigrationSet, log?: Logger): Promise<string[]> {
  const parsed = migrationSetSchema.safeParse(set);
  if (!parsed.success) {
    throw new StoreError('invalid_options', `invalid migration set: ${z.prettifyError(parsed.error)}`);
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => set.migrations },
    migrationTableName: `${set.name}_migrations`,
    migrationLockTableName: `${set.name}_migrations_lock`,
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error')?.migrationName;
    const what = failed === undefined ? `migrations of ${set.name}` : `migration ${set.name}/${failed}`;
    throw new StoreError('migration_failed', `${what} failed: ${describe(error)}`, { cause: error });
  }
  const applied = results.map((result) => result.migrationName);
  if (applied.length > 0) log?.info({ migrationSet: set.name, applied }, 'applied migrations');
  return applied;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
