// Node-only by nature: used with PGlite's on-disk data folder (the store opens it through node:fs).
import type { PGlite } from '@electric-sql/pglite';
import {
  type PostgresCursor,
  type PostgresCursorConstructor,
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresQueryResult,
} from 'kysely';
import type { Logger } from '../log.js';
import { StoreError } from './errors.js';

/** How long a caller may wait for PGlite's one connection before we warn: it is likely a deadlock. */
const SLOW_ACQUIRE_WARN_MS = 10_000;

/**
 * A Kysely dialect over PGlite. It reuses Kysely's Postgres dialect (adapter with its advisory migration
 * lock, introspector, query compiler, transactions and savepoints) and gives it a "pool" whose only
 * connection is the PGlite instance. PGlite is a single session, so the pool lends it to one holder at a
 * time: a Kysely transaction keeps it from BEGIN to COMMIT, and nobody else's statements interleave.
 *
 * Consequence: inside `db.transaction().execute(trx => ...)` use `trx`, never `db` (as with a pool of
 * size 1, `db` would wait for the connection the transaction holds).
 */
export function pgliteDialect(pglite: PGlite, log?: Logger): PostgresDialect {
  return new PostgresDialect({
    pool: new SingleSessionPool(pglite, log),
    cursor: refuseStreaming as unknown as PostgresCursorConstructor,
  });
}

class SingleSessionPool implements PostgresPool {
  readonly #client: PGliteClient;
  readonly #waiting: (() => void)[] = [];
  #busy = false;

  constructor(
    private readonly pglite: PGlite,
    private readonly log?: Logger,
  ) {
    this.#client = new PGliteClient(pglite, () => this.#release());
  }

  async connect(): Promise<PostgresPoolClient> {
    if (!this.#busy) {
      this.#busy = true;
      return this.#client;
    }
    const started = Date.now();
    const warn = setTimeout(
      () =>
        this.log?.warn(
          { waitedMs: Date.now() - started },
          'PGlite connection still busy: is a query using db instead of trx inside a transaction?',
        ),
      SLOW_ACQUIRE_WARN_MS,
    );
    warn.unref();
    // #release hands the connection straight to us (#busy stays true), so no newcomer can overtake.
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    clearTimeout(warn);
    return this.#client;
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#busy = false;
  }

  async end(): Promise<void> {
    await this.pglite.close();
  }
}

class PGliteClient implements PostgresPoolClient {
  constructor(
    private readonly pglite: PGlite,
    readonly release: () => void,
  ) {}

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    sqlOrCursor: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof sqlOrCursor !== 'string') refuseStreaming();
    return this.pglite.query<R>(sqlOrCursor, [...(parameters ?? [])]).then((result) => ({
      // Kysely reads the command to count affected rows and to see a COMMIT that rolled back.
      command: (result.command ?? 'SELECT') as PostgresQueryResult<R>['command'],
      rowCount: result.affectedRows ?? result.rowCount ?? 0,
      rows: result.rows,
    }));
  }
}

/** Kysely builds a cursor for `.stream()`; PGlite has no server-side cursors over this API. */
function refuseStreaming(): never {
  throw new StoreError(
    'unsupported',
    'streaming queries are not supported on PGlite; page with limit and a key',
  );
}
