import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  insertIfAbsent,
  type MigrationSet,
  type Store,
  StoreError,
  type StoreKind,
  withTransaction,
} from '../../src/store/index.js';
import { type LedgerTables, ledgerMigrations, type OpenedBackend, openBackend } from './ledger-fixture.js';

const ABOVE_2_POW_53 = 2n ** 53n + 1n; // the first integer a JS number cannot hold
const INT8_MAX = 2n ** 63n - 1n;
const NUMERIC_40_MAX = 10n ** 40n - 1n;

describe.each<StoreKind>(['pglite', 'postgres'])('store on %s', (kind) => {
  let backend: OpenedBackend;
  let store: Store<LedgerTables>;
  let firstMigration: string[];

  beforeAll(async () => {
    backend = await openBackend(kind);
    store = backend.store;
    firstMigration = await store.migrate(ledgerMigrations);
  }, 120_000);

  afterAll(async () => {
    await backend?.close();
  }, 60_000);

  it('reports its kind', () => {
    expect(store.kind).toBe(kind);
  });

  it('applies a migration set once; running it again is a no-op', async () => {
    expect(firstMigration).toEqual(['0001_accounts', '0002_credits']);
    expect(await store.migrate(ledgerMigrations)).toEqual([]);
    const applied = await sql<{ name: string }>`select name from ledger_migrations order by name`.execute(
      store.db,
    );
    expect(applied.rows.map((row) => row.name)).toEqual(['0001_accounts', '0002_credits']);
  });

  it('keeps each set in its own migration table, so roles can share a database', async () => {
    const other: MigrationSet = {
      name: 'other_role',
      migrations: {
        '0001_notes': { up: (db) => db.schema.createTable('other_notes').addColumn('id', 'int4').execute() },
      },
    };
    expect(await store.migrate(other)).toEqual(['0001_notes']);
    expect(await store.migrate(ledgerMigrations)).toEqual([]);
    const rows = await sql<{ name: string }>`select name from other_role_migrations`.execute(store.db);
    expect(rows.rows).toEqual([{ name: '0001_notes' }]);
  });

  it('runs a failing batch in one transaction: nothing of it stays', async () => {
    const broken: MigrationSet = {
      name: 'broken',
      migrations: {
        '0001_ok': { up: (db) => db.schema.createTable('broken_first').addColumn('id', 'int4').execute() },
        '0002_fails': {
          up: async (db) => {
            await sql`select * from no_such_table`.execute(db);
          },
        },
      },
    };
    const failure = await store.migrate(broken).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).code).toBe('migration_failed');
    expect((failure as StoreError).message).toContain('broken/0002_fails');
    const tables = await sql<{ n: bigint }>`
      select count(*) as n from information_schema.tables where table_name = 'broken_first'`.execute(
      store.db,
    );
    expect(tables.rows[0]?.n).toBe(0n);
  });

  it('rejects a migration set whose name is not a safe table name', async () => {
    const bad = { name: 'Robert"); drop table accounts; --', migrations: {} };
    await expect(store.migrate(bad)).rejects.toMatchObject({ name: 'StoreError', code: 'invalid_options' });
  });

  it('creates, reads, updates and deletes rows', async () => {
    await store.db.insertInto('accounts').values({ id: 'crud', balance: 5n }).execute();
    expect(
      await store.db.selectFrom('accounts').selectAll().where('id', '=', 'crud').executeTakeFirst(),
    ).toEqual({
      id: 'crud',
      balance: 5n,
      credit_count: 0n,
    });
    const updated = await store.db
      .updateTable('accounts')
      .set((eb) => ({ balance: eb('balance', '+', 7n) }))
      .where('id', '=', 'crud')
      .executeTakeFirst();
    expect(updated.numUpdatedRows).toBe(1n);
    const row = await store.db
      .selectFrom('accounts')
      .select('balance')
      .where('id', '=', 'crud')
      .executeTakeFirst();
    expect(row?.balance).toBe(12n);
    const deleted = await store.db.deleteFrom('accounts').where('id', '=', 'crud').executeTakeFirst();
    expect(deleted.numDeletedRows).toBe(1n);
    expect(await store.db.selectFrom('accounts').select('id').where('id', '=', 'crud').execute()).toEqual([]);
  });

  it('round-trips bigints above 2^53 exactly in int8 and numeric(40,0), as values and as parameters', async () => {
    await store.db
      .insertInto('accounts')
      .values([
        { id: 'big-a', balance: NUMERIC_40_MAX, credit_count: INT8_MAX },
        { id: 'big-b', balance: ABOVE_2_POW_53, credit_count: -INT8_MAX - 1n },
      ])
      .execute();
    const rows = await store.db
      .selectFrom('accounts')
      .select(['id', 'balance', 'credit_count'])
      .where('id', 'in', ['big-a', 'big-b'])
      .orderBy('id')
      .execute();
    expect(rows).toEqual([
      { id: 'big-a', balance: NUMERIC_40_MAX, credit_count: INT8_MAX },
      { id: 'big-b', balance: ABOVE_2_POW_53, credit_count: -INT8_MAX - 1n },
    ]);
    const byParameter = await store.db
      .selectFrom('accounts')
      .select('id')
      .where('balance', '=', ABOVE_2_POW_53)
      .where('credit_count', '=', -INT8_MAX - 1n)
      .execute();
    expect(byParameter).toEqual([{ id: 'big-b' }]);
    // sum() of numeric is numeric: still an exact bigint; a fractional numeric stays an exact string.
    const totals = await sql<{ total: bigint; half: string; ids: bigint[] }>`
      select sum(balance) as total, 1::numeric / 2 as half, array[${ABOVE_2_POW_53}::int8, 2::int8] as ids
      from accounts where id in ('big-a', 'big-b')`.execute(store.db);
    expect(totals.rows[0]).toEqual({
      total: NUMERIC_40_MAX + ABOVE_2_POW_53,
      half: '0.50000000000000000000',
      ids: [ABOVE_2_POW_53, 2n],
    });
  });

  it('rolls a transaction back when its work throws, and commits when it resolves', async () => {
    const failure = new Error('work failed');
    await expect(
      withTransaction(store.db, async (trx) => {
        await trx.insertInto('accounts').values({ id: 'rolled-back' }).execute();
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(
      await store.db.selectFrom('accounts').select('id').where('id', '=', 'rolled-back').execute(),
    ).toEqual([]);

    const result = await withTransaction(store.db, async (trx) => {
      await trx.insertInto('accounts').values({ id: 'committed' }).execute();
      return 'done';
    });
    expect(result).toBe('done');
    expect(
      await store.db.selectFrom('accounts').select('id').where('id', '=', 'committed').execute(),
    ).toEqual([{ id: 'committed' }]);
  });

  it('joins an enclosing transaction, so an outer rollback undoes the inner work', async () => {
    await expect(
      withTransaction(store.db, async (outer) => {
        await withTransaction(outer, (inner) =>
          inner.insertInto('accounts').values({ id: 'nested' }).execute(),
        );
        expect(
          await outer.selectFrom('accounts').select('id').where('id', '=', 'nested').execute(),
        ).toHaveLength(1);
        throw new Error('outer failed');
      }),
    ).rejects.toThrow('outer failed');
    expect(await store.db.selectFrom('accounts').select('id').where('id', '=', 'nested').execute()).toEqual(
      [],
    );
  });

  it('retries work after a serialization failure (SQLSTATE 40001), and not after other errors', async () => {
    let attempts = 0;
    const value = await withTransaction(
      store.db,
      async (trx) => {
        attempts++;
        await trx
          .insertInto('accounts')
          .values({ id: `retry-${attempts}` })
          .execute();
        if (attempts === 1) throw Object.assign(new Error('could not serialize access'), { code: '40001' });
        return attempts;
      },
      { isolation: 'serializable', retries: 2 },
    );
    expect(value).toBe(2);
    const ids = await store.db.selectFrom('accounts').select('id').where('id', 'like', 'retry-%').execute();
    expect(ids).toEqual([{ id: 'retry-2' }]); // the failed attempt was rolled back

    let otherAttempts = 0;
    await expect(
      withTransaction(
        store.db,
        async () => {
          otherAttempts++;
          throw Object.assign(new Error('unique violation'), { code: '23505' });
        },
        { retries: 2 },
      ),
    ).rejects.toThrow('unique violation');
    expect(otherAttempts).toBe(1);
  });

  it('serializes concurrent read-modify-write transactions on one row', async () => {
    await store.db.insertInto('counters').values({ name: 'hits' }).execute();
    const increment = () =>
      withTransaction(store.db, async (trx) => {
        const row = await trx
          .selectFrom('counters')
          .select('value')
          .where('name', '=', 'hits')
          .forUpdate()
          .executeTakeFirstOrThrow();
        await new Promise((resolve) => setTimeout(resolve, 5)); // let the others try to interleave
        await trx
          .updateTable('counters')
          .set({ value: row.value + 1n })
          .where('name', '=', 'hits')
          .execute();
      });
    await Promise.all(Array.from({ length: 8 }, increment));
    const row = await store.db
      .selectFrom('counters')
      .select('value')
      .where('name', '=', 'hits')
      .executeTakeFirst();
    expect(row?.value).toBe(8n);
  });

  it('inserts a row once by its unique key and reports whether it was new', async () => {
    await store.db.insertInto('accounts').values({ id: 'alice' }).execute();
    const credit = {
      tx_hash: 'ab'.repeat(32),
      lt: ABOVE_2_POW_53,
      account_id: 'alice',
      amount: 1_500_000_000n,
    };
    expect(await insertIfAbsent(store.db, 'credits', credit, ['tx_hash', 'lt'])).toBe(true);
    expect(await insertIfAbsent(store.db, 'credits', { ...credit, amount: 1n }, ['tx_hash', 'lt'])).toBe(
      false,
    );
    expect(await insertIfAbsent(store.db, 'credits', { ...credit, lt: 1n }, ['tx_hash', 'lt'])).toBe(true);
    const rows = await store.db
      .selectFrom('credits')
      .select(['lt', 'amount'])
      .where('tx_hash', '=', credit.tx_hash)
      .orderBy('lt')
      .execute();
    expect(rows).toEqual([
      { lt: 1n, amount: 1_500_000_000n },
      { lt: ABOVE_2_POW_53, amount: 1_500_000_000n }, // the duplicate did not overwrite
    ]);
  });

  it('makes insertIfAbsent atomic with the rest of a transaction', async () => {
    await store.db.insertInto('accounts').values({ id: 'bob' }).execute();
    const credit = { tx_hash: 'cd'.repeat(32), lt: 7n, account_id: 'bob', amount: 300n };
    const creditOnce = () =>
      withTransaction(store.db, async (trx) => {
        if (!(await insertIfAbsent(trx, 'credits', credit, ['tx_hash', 'lt']))) return false;
        await trx
          .updateTable('accounts')
          .set((eb) => ({ balance: eb('balance', '+', credit.amount) }))
          .where('id', '=', 'bob')
          .execute();
        return true;
      });
    const outcomes = await Promise.all([creditOnce(), creditOnce(), creditOnce()]);
    expect(outcomes.filter((credited) => credited)).toHaveLength(1);
    const bob = await store.db
      .selectFrom('accounts')
      .select('balance')
      .where('id', '=', 'bob')
      .executeTakeFirst();
    expect(bob?.balance).toBe(300n);
  });
});
