// The bot stores the Mini App's API runs over in tests: in memory, PGlite in a data folder, a real Postgres.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '@cocoon/shared/store';
import { sql } from 'kysely';
import { startPostgres, type TestPostgres } from '../../../shared/test/support/postgres.js';
import { InMemoryBotStore } from '../../src/store/memory.js';
import { SqlBotStore } from '../../src/store/sql.js';
import type { BotStore } from '../../src/store/types.js';

export const BACKENDS = ['memory', 'pglite', 'postgres'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BotStoreBackend {
  /** An empty bot store: the rows earlier tests left are deleted. */
  fresh(): Promise<BotStore>;
  /** Closes the database and opens it again, as a restarted process would (SQL backends). */
  reopen(): Promise<BotStore>;
  close(): Promise<void>;
}

export async function openBackend(name: BackendName): Promise<BotStoreBackend> {
  if (name === 'memory') {
    return {
      fresh: async () => new InMemoryBotStore(),
      reopen: async () => {
        throw new Error('an in-memory store does not survive a restart');
      },
      close: async () => {},
    };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'cocoon-app-store-'));
  let postgres: TestPostgres | undefined;
  if (name === 'postgres') postgres = await startPostgres();
  const open = () => openStore({ dataDir, ...(postgres === undefined ? {} : { databaseUrl: postgres.url }) });
  let store: Store<unknown> = await open();
  let bot = await SqlBotStore.open(store);
  return {
    async fresh() {
      const tables = await sql<{ tablename: string }>`
        select tablename from pg_tables
        where schemaname = 'public' and tablename like 'bot\\_%' and tablename not like 'bot\\_migrations%'`.execute(
        store.db,
      );
      const names = tables.rows.map((row) => sql.id(row.tablename));
      await sql`truncate ${sql.join(names)}`.execute(store.db);
      return bot;
    },
    async reopen() {
      await store.close();
      store = await open();
      bot = await SqlBotStore.open(store);
      return bot;
    },
    async close() {
      await store.close();
      await postgres?.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
