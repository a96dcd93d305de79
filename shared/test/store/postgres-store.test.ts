import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type MigrationSet,
  openStore,
  type Store,
  StoreError,
  withTransaction,
} from '../../src/store/index.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** Kysely's PostgresAdapter takes this session advisory lock around every migration run (kysely 0.28). */
const KYSELY_MIGRATION_LOCK_ID = '3853314791062309107';

type OnCallTables = { on_call: { name: string; on_duty: boolean } };

describe('store on a Postgres server shared by several processes', () => {
  let server: TestPostgres;
  let dataDir: string;
  const opened: Store<unknown>[] = [];
  const open = async <DB>() => {
    const store = await openStore<DB>({ databaseUrl: server.url, dataDir });
    opened.push(store as Store<unknown>);
    return store;
  };

  beforeAll(async () => {
    server = await startPostgres();
    dataDir = await mkdtemp(join(tmpdir(), 'cocoon-store-test-'));
  }, 120_000);

  afterAll(async () => {
    try {
      await Promise.all(opened.map((store) => store.close()));
    } finally {
      await server?.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('applies each migration once when two stores migrate at the same time', async () => {
    const [first, second] = [await open(), await open()];
    let runs = 0;
    const set: MigrationSet = {
      name: 'racing',
      migrations: {
        '0001_slow': {
          async up(db) {
            runs++;
            await sql`select pg_sleep(0.3)`.execute(db);
            await sql`create table racing_items (id int4 primary key)`.execute(db); // fails if run twice
          },
        },
      },
    };
    const results = await Promise.all([first.migrate(set), second.migrate(set)]);
    expect(results.map((applied) => applied.length).sort()).toEqual([0, 1]);
    expect(runs).toBe(1);
    const rows = await sql<{ name: string }>`select name from racing_migrations`.execute(first.db);
    expect(rows.rows).toEqual([{ name: '0001_slow' }]);
  });

  it('waits for the advisory migration lock held by another session', async () => {
    const store = await open();
    const holder = new pg.Client({ connectionString: server.url });
    await holder.connect();
    try {
      await holder.query(`select pg_advisory_lock(${KYSELY_MIGRATION_LOCK_ID})`);
      let done = false;
      const migrating = store
        .migrate({
          name: 'waiting',
          migrations: {
            '0001_t': { up: (db) => db.schema.createTable('waiting_t').addColumn('id', 'int4').execute() },
          },
        })
        .then((applied) => {
          done = true;
          return applied;
        });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(done).toBe(false);
      await holder.query(`select pg_advisory_unlock(${KYSELY_MIGRATION_LOCK_ID})`);
      expect(await migrating).toEqual(['0001_t']);
    } finally {
      await holder.end();
    }
  });

  it('retries a serializable transaction that lost a real write-skew conflict', async () => {
    const store = await open<OnCallTables>();
    await store.migrate({
      name: 'on_call',
      migrations: {
        '0001_on_call': {
          up: (db) =>
            db.schema
              .createTable('on_call')
              .addColumn('name', 'text', (col) => col.primaryKey())
              .addColumn('on_duty', 'boolean', (col) => col.notNull())
              .execute(),
        },
      },
    });
    await store.db
      .insertInto('on_call')
      .values([
        { name: 'a', on_duty: true },
        { name: 'b', on_duty: true },
      ])
      .execute();
    // Both read before either writes: without serializable isolation both would leave, leaving nobody on duty.
    let reads = 0;
    let bothRead: () => void = () => {};
    const barrier = new Promise<void>((resolve) => {
      bothRead = resolve;
    });
    let attempts = 0;
    const leave = (name: string) =>
      withTransaction(
        store.db,
        async (trx) => {
          attempts++;
          const onDuty = await trx.selectFrom('on_call').select('name').where('on_duty', '=', true).execute();
          if (++reads === 2) bothRead();
          await barrier;
          if (onDuty.length < 2) return false;
          await trx.updateTable('on_call').set({ on_duty: false }).where('name', '=', name).execute();
          return true;
        },
        { isolation: 'serializable', retries: 2 },
      );
    const left = await Promise.all([leave('a'), leave('b')]);
    expect(left.filter((leftDuty) => leftDuty)).toHaveLength(1);
    expect(attempts).toBe(3); // one conflict, one retry
    const onDuty = await store.db.selectFrom('on_call').select('name').where('on_duty', '=', true).execute();
    expect(onDuty).toHaveLength(1);
  });

  it('fails at open when the server cannot be reached', async () => {
    const unreachable = server.url.replace(/:(\d+)\//, ':1/');
    await expect(openStore({ databaseUrl: unreachable, dataDir })).rejects.toThrow(/ECONNREFUSED|connect/);
  });

  it('refuses a malformed URL without echoing it (it may hold a password)', async () => {
    const failure = await openStore({ databaseUrl: 'mysql://user:hunter2@db/x', dataDir }).catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).code).toBe('invalid_options');
    expect((failure as StoreError).message).not.toContain('hunter2');
  });
});
