import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ColumnType, type Kysely, sql } from 'kysely';
import { type MigrationSet, openStore, type Store, type StoreKind } from '../../src/store/index.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** A small ledger shaped like the roles' tables: money as numeric(40,0) and int8, an idempotency key. */
export type LedgerTables = {
  accounts: {
    id: string;
    balance: ColumnType<bigint, bigint | undefined, bigint>;
    credit_count: ColumnType<bigint, bigint | undefined, bigint>;
  };
  credits: { tx_hash: string; lt: bigint; account_id: string; amount: bigint };
  counters: { name: string; value: ColumnType<bigint, bigint | undefined, bigint> };
};

export const ledgerMigrations: MigrationSet = {
  name: 'ledger',
  migrations: {
    '0001_accounts': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('accounts')
          .addColumn('id', 'text', (col) => col.primaryKey())
          .addColumn('balance', sql`numeric(40,0)`, (col) => col.notNull().defaultTo(0))
          .addColumn('credit_count', 'int8', (col) => col.notNull().defaultTo(0))
          .execute();
      },
    },
    '0002_credits': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('credits')
          .addColumn('tx_hash', 'text', (col) => col.notNull())
          .addColumn('lt', 'int8', (col) => col.notNull())
          .addColumn('account_id', 'text', (col) => col.notNull().references('accounts.id'))
          .addColumn('amount', sql`numeric(40,0)`, (col) => col.notNull())
          .addPrimaryKeyConstraint('credits_pk', ['tx_hash', 'lt'])
          .execute();
        await db.schema
          .createTable('counters')
          .addColumn('name', 'text', (col) => col.primaryKey())
          .addColumn('value', 'int8', (col) => col.notNull().defaultTo(0))
          .execute();
      },
    },
  },
};

export type OpenedBackend = {
  store: Store<LedgerTables>;
  url?: string;
  dataDir: string;
  close(): Promise<void>;
};

/** Opens a store on a fresh PGlite folder or a fresh throw-away Postgres server. */
export async function openBackend(kind: StoreKind): Promise<OpenedBackend> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cocoon-store-test-'));
  let server: TestPostgres | undefined;
  try {
    if (kind === 'postgres') server = await startPostgres();
    const url = server?.url;
    const store = await openStore<LedgerTables>({ databaseUrl: url, dataDir });
    return {
      store,
      url,
      dataDir,
      close: async () => {
        try {
          await store.close();
        } finally {
          await server?.stop();
          await rm(dataDir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}
