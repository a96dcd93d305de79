// Node-only: the store a test opens. Embedded PGlite in a temp folder by default; with
// COCOON_TEST_DATABASE_URL set (scripts/test-postgres.ts sets it), a fresh database on that Postgres server,
// so the same suites run once on each backend.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/index.js';

/** The Postgres server the tests run against (a maintenance-database URL), or undefined for PGlite. */
const testServerUrl = (): string | undefined => process.env.COCOON_TEST_DATABASE_URL || undefined;

export type TestDatabase = {
  /** The fresh database's URL, for `openStore({ databaseUrl })` or a role's DATABASE_URL. */
  url: string;
  /** Drops the database, cutting any connection still open; safe to call twice. */
  drop(): Promise<void>;
};

/**
 * A fresh, empty database on the COCOON_TEST_DATABASE_URL server, named after `label` and unique across
 * test files and processes; undefined when the variable is unset (the test runs on PGlite).
 */
export async function createTestDatabase(label: string): Promise<TestDatabase | undefined> {
  const serverUrl = testServerUrl();
  if (serverUrl === undefined) return undefined;
  // Identifiers stop at 63 bytes; the random tail keeps parallel test files apart.
  const name = `cocoon_test_${slugOf(label)}_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, `create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropping: Promise<void> | undefined;
  return {
    url: url.toString(),
    drop: () => {
      dropping ??= onServer(serverUrl, `drop database if exists ${name} with (force)`);
      return dropping;
    },
  };
}

/**
 * An empty store for a test: PGlite in a temp folder, or a fresh database on the COCOON_TEST_DATABASE_URL
 * server. close() closes it and removes the folder or drops the database.
 */
export async function openTestStore<DB = unknown>(label: string): Promise<Store<DB>> {
  const dataDir = await mkdtemp(join(tmpdir(), `cocoon-test-${slugOf(label)}-`));
  let database: TestDatabase | undefined;
  const discard = async () => {
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  };
  let store: Store<DB>;
  try {
    database = await createTestDatabase(label);
    store = await openStore<DB>({
      dataDir,
      ...(database === undefined ? {} : { databaseUrl: database.url }),
    });
  } catch (error) {
    await discard();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    kind: store.kind,
    db: store.db,
    migrate: (set) => store.migrate(set),
    close: () => {
      closing ??= store.close().finally(discard);
      return closing;
    },
  };
}

/** `label` as a safe SQL identifier and folder name part. */
const slugOf = (label: string) =>
  label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 32);

/** Runs one statement over a short-lived connection (CREATE/DROP DATABASE cannot run in a pool's transaction). */
async function onServer(serverUrl: string, statement: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
