// Node-only by nature: part of the store, which opens PGlite data folders and Postgres connections.
import { type Insertable, type Kysely, Transaction } from 'kysely';

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export type TransactionOptions = {
  /** Postgres default: read committed. */
  isolation?: IsolationLevel;
  /**
   * How many times to run `work` again after a serialization failure or deadlock (SQLSTATE 40001, 40P01),
   * which Postgres asks clients to retry. `work` must then have no effects outside the database.
   */
  retries?: number;
};

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

/**
 * Runs `work` in a transaction: committed if it resolves, rolled back if it throws. Called with a
 * transaction, it joins it (options then do not apply), so helpers compose inside a caller's transaction.
 */
export async function withTransaction<DB, T>(
  db: Kysely<DB> | Transaction<DB>, // the union lets TypeScript infer DB from a Transaction too
  work: (trx: Transaction<DB>) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  if (db instanceof Transaction) return work(db);
  const retries = options.retries ?? 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const builder = db.transaction();
      return await (options.isolation ? builder.setIsolationLevel(options.isolation) : builder).execute(work);
    } catch (error) {
      if (attempt >= retries || !RETRYABLE_SQLSTATES.has(sqlState(error) ?? '')) throw error;
    }
  }
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Inserts `row` unless a row with the same `uniqueKey` exists (which needs a unique index or primary key
 * on exactly those columns); returns whether the row is new. The idempotent step for crediting once per
 * on-chain transaction, recording a receipt once, and the like.
 */
export async function insertIfAbsent<DB, TB extends keyof DB & string>(
  db: Kysely<DB> | Transaction<DB>,
  table: TB,
  row: Insertable<DB[TB]>,
  uniqueKey: readonly [keyof DB[TB] & string, ...(keyof DB[TB] & string)[]],
): Promise<boolean> {
  // Kysely cannot check a query over a generic table; the signature above carries the checks instead.
  const loose = db as unknown as Kysely<Record<string, Record<string, unknown>>>;
  const result = await loose
    .insertInto(table)
    .values(row as Record<string, unknown>)
    .onConflict((conflict) => conflict.columns(uniqueKey).doNothing())
    .executeTakeFirst();
  return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
}
