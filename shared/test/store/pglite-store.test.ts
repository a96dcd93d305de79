import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store, StoreError } from '../../src/store/index.js';
import { type LedgerTables, ledgerMigrations } from './ledger-fixture.js';

describe('store on an embedded PGlite data folder', () => {
  let dataDir: string;
  let store: Store<LedgerTables> | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cocoon-store-test-'));
  });

  afterAll(async () => {
    await store?.close();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('keeps its data across close and reopen', async () => {
    store = await openStore<LedgerTables>({ dataDir });
    expect(await store.migrate(ledgerMigrations)).toHaveLength(2);
    await store.db
      .insertInto('accounts')
      .values({ id: 'kept', balance: 2n ** 64n })
      .execute();
    await store.close();
    expect(existsSync(join(dataDir, 'pglite.lock'))).toBe(false);

    store = await openStore<LedgerTables>({ dataDir });
    expect(await store.migrate(ledgerMigrations)).toEqual([]);
    const row = await store.db
      .selectFrom('accounts')
      .select('balance')
      .where('id', '=', 'kept')
      .executeTakeFirst();
    expect(row?.balance).toBe(2n ** 64n);
  }, 120_000);

  it('refuses a second open of a folder that is in use, naming the holder', async () => {
    expect(store).toBeDefined();
    const failure = await openStore({ dataDir }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).code).toBe('data_dir_locked');
    expect((failure as StoreError).message).toContain(
      `data folder ${dataDir} is in use by pid ${process.pid}`,
    );
    // The refused open left the holder's lock and connection alone.
    expect((await readFile(join(dataDir, 'pglite.lock'), 'utf8')).trim()).toBe(String(process.pid));
    expect(await store?.db.selectFrom('accounts').select('id').execute()).toEqual([{ id: 'kept' }]);
  });

  it('takes over the lock of a process that died without closing', async () => {
    await store?.close();
    store = undefined;
    const exited = spawnSync(process.execPath, ['-e', '']);
    expect(exited.pid).toBeGreaterThan(0);
    await writeFile(join(dataDir, 'pglite.lock'), `${exited.pid}\n`);

    store = await openStore<LedgerTables>({ dataDir });
    expect((await readFile(join(dataDir, 'pglite.lock'), 'utf8')).trim()).toBe(String(process.pid));
    expect(await store.db.selectFrom('accounts').select('id').execute()).toEqual([{ id: 'kept' }]);
  }, 120_000);

  it('refuses streaming with a clear error', async () => {
    const rows = store?.db.selectFrom('accounts').select('id').stream();
    await expect(rows?.next()).rejects.toMatchObject({
      code: 'unsupported',
      message: /not supported on PGlite/,
    });
    // The refused stream gave PGlite's one connection back.
    expect(await store?.db.selectFrom('accounts').select('id').execute()).toEqual([{ id: 'kept' }]);
  });
});

describe('creating the embedded database', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cocoon-store-create-test-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('builds it aside and moves it into place, clearing a crashed attempt and an empty folder', async () => {
    // What a creation killed part-way leaves: a staging folder with some files, and the empty target.
    await mkdir(join(dataDir, 'pglite.init', 'base'), { recursive: true });
    await writeFile(join(dataDir, 'pglite.init', 'PG_VERSION'), '17\n');
    await mkdir(join(dataDir, 'pglite'));

    const store = await openStore<LedgerTables>({ dataDir });
    try {
      expect((await readdir(dataDir)).sort()).toEqual(['pglite', 'pglite.lock']);
      expect(await store.migrate(ledgerMigrations)).toHaveLength(2);
      // The settings reach the server (PGlite rewrites postgresql.conf at every start).
      const settings = await sql<{ name: string; setting: string }>`
        select name, setting from pg_settings where name in ('shared_buffers', 'max_connections')
        order by name`.execute(store.db);
      expect(settings.rows).toEqual([
        { name: 'max_connections', setting: '5' },
        { name: 'shared_buffers', setting: '512' }, // 8 kB pages: 4 MB
      ]);
    } finally {
      await store.close();
    }
  }, 120_000);

  it('refuses a folder that holds files but no database, and leaves them be', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'cocoon-store-create-test-'));
    try {
      await mkdir(join(folder, 'pglite'));
      await writeFile(join(folder, 'pglite', 'notes.txt'), 'not a database');

      const failure = await openStore({ dataDir: folder }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StoreError);
      expect((failure as StoreError).code).toBe('create_failed');
      expect((failure as StoreError).message).toContain('holds files but no database');
      expect(await readFile(join(folder, 'pglite', 'notes.txt'), 'utf8')).toBe('not a database');
      expect(existsSync(join(folder, 'pglite.lock'))).toBe(false);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }, 120_000);
});
