import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
