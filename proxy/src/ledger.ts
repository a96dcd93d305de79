// Node-only by nature: persists receipts and totals in the shared SQL store.
import {
  jobCost,
  type ModelOffer,
  type Receipt,
  ReceiptError,
  receiptId,
  type SignedReceipt,
  verifyReceipt,
} from '@cocoon/shared';
import { withTransaction } from '@cocoon/shared/store/index';
import { type Insertable, type Kysely, sql } from 'kysely';
import type { ProxyDb, ReceiptsTable, TotalsColumns } from './db.js';

/** What the proxy knew of a job when it dispatched it: the receipt must agree. */
export interface JobTerms {
  jobId: string;
  client: string;
  model: string;
  maxCost: bigint;
  /** The receipt-signing key attested by the worker the job was dispatched to. */
  workerSignKey: string;
  payoutAddress: string;
  /** The worker's offer for the model: a receipt may charge neither more per token nor more for its usage. */
  offer: ModelOffer;
}

export type ReceiptRefusal =
  | ReceiptError['code']
  | 'wrong_job'
  | 'wrong_client'
  | 'wrong_model'
  | 'over_price'
  | 'over_cost'
  | 'over_max_cost';

export class ReceiptRefused extends Error {
  override readonly name = 'ReceiptRefused';
  constructor(
    readonly code: ReceiptRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** Verifies a receipt's signature against the attested key and its fields against the job's terms. */
export function checkReceipt(signed: SignedReceipt, terms: JobTerms): Receipt {
  let receipt: Receipt;
  try {
    receipt = verifyReceipt(signed, terms.workerSignKey);
  } catch (error) {
    if (error instanceof ReceiptError) throw new ReceiptRefused(error.code, error.message);
    throw error;
  }
  const refuse = (code: ReceiptRefusal, message: string): never => {
    throw new ReceiptRefused(code, message);
  };
  if (receipt.jobId !== terms.jobId)
    refuse('wrong_job', `receipt names job ${receipt.jobId}, not ${terms.jobId}`);
  if (receipt.client !== terms.client) refuse('wrong_client', 'receipt names another client than the job');
  if (receipt.model !== terms.model) refuse('wrong_model', 'receipt names another model than the job');
  const { offer } = terms;
  if (receipt.pricePerToken > offer.pricePerToken) {
    refuse('over_price', `receipt price ${receipt.pricePerToken} exceeds the offered ${offer.pricePerToken}`);
  }
  const cost = jobCost(receipt, { ...offer, pricePerToken: receipt.pricePerToken });
  if (receipt.amount > cost)
    refuse('over_cost', `receipt amount ${receipt.amount} exceeds ${cost} for its usage`);
  if (receipt.amount > terms.maxCost) {
    refuse('over_max_cost', `receipt amount ${receipt.amount} exceeds the job's maxCost ${terms.maxCost}`);
  }
  return receipt;
}

export interface Totals {
  jobs: bigint;
  promptTokens: bigint;
  completionTokens: bigint;
  amount: bigint;
}

/** Totals of the rows per key, so each total is updated once per batch (an upsert may touch a row once). */
function sumBy(rows: Insertable<ReceiptsTable>[], key: (row: Insertable<ReceiptsTable>) => string) {
  const sums = new Map<string, TotalsColumns>();
  for (const row of rows) {
    const sum = sums.get(key(row)) ?? { jobs: 0n, prompt_tokens: 0n, completion_tokens: 0n, amount: 0n };
    sum.jobs += 1n;
    sum.prompt_tokens += BigInt(row.prompt_tokens as number);
    sum.completion_tokens += BigInt(row.completion_tokens as number);
    sum.amount += row.amount as bigint;
    sums.set(key(row), sum);
  }
  return sums;
}

const ZERO_TOTALS: Totals = { jobs: 0n, promptTokens: 0n, completionTokens: 0n, amount: 0n };

interface PendingReceipt {
  row: Insertable<ReceiptsTable>;
  resolve(fresh: boolean): void;
  reject(error: unknown): void;
}

/** Rows per statement: 13 parameters each stays far below Postgres's 65535 parameters. */
const MAX_BATCH = 500;

/**
 * Receipts and the cumulative totals they add up to, per client and per worker (payout address).
 * Writes are group-committed: receipts that arrive while a transaction is running are stored together by
 * the next one, so the store sees one transaction per batch rather than per job, and no caller hears
 * back before its receipt is committed.
 */
export class Ledger {
  readonly #pending: PendingReceipt[] = [];
  #flushing = false;

  constructor(private readonly db: Kysely<ProxyDb>) {}

  /**
   * Stores a checked receipt and adds it to both totals, atomically. A receipt already stored (the same
   * id, or another receipt for the same job) adds nothing: `fresh` is false.
   */
  record(
    signed: SignedReceipt,
    receipt: Receipt,
    payoutAddress: string,
  ): Promise<{ id: string; fresh: boolean }> {
    const id = receiptId(receipt);
    const row: Insertable<ReceiptsTable> = {
      id,
      job_id: receipt.jobId,
      client: receipt.client,
      worker_key: receipt.worker,
      payout_address: payoutAddress,
      model: receipt.model,
      prompt_tokens: receipt.promptTokens,
      completion_tokens: receipt.completionTokens,
      price_per_token: receipt.pricePerToken,
      amount: receipt.amount,
      receipt_time: receipt.time,
      boc: signed.boc,
      signature: signed.signature,
    };
    const stored = new Promise<boolean>((resolve, reject) => this.#pending.push({ row, resolve, reject }));
    if (!this.#flushing) void this.#flush();
    return stored.then((fresh) => ({ id, fresh }));
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, MAX_BATCH);
      try {
        const inserted = await this.#write(batch.map((pending) => pending.row));
        for (const pending of batch) pending.resolve(inserted.delete(pending.row.id as string));
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.#flushing = false;
  }

  /** One transaction: the new receipts, then each touched total once. Returns the ids really inserted. */
  async #write(rows: Insertable<ReceiptsTable>[]): Promise<Set<string>> {
    return withTransaction(this.db, async (trx) => {
      const inserted = await trx
        .insertInto('proxy_receipts')
        .values(rows)
        .onConflict((c) => c.doNothing())
        .returning('id')
        .execute();
      const ids = new Set(inserted.map((row) => row.id));
      const fresh = rows.filter((row) => ids.has(row.id as string));
      if (fresh.length === 0) return ids;
      const byClient = sumBy(fresh, (row) => row.client as string);
      const byWorker = sumBy(fresh, (row) => row.payout_address as string);
      await trx
        .insertInto('proxy_client_totals')
        .values([...byClient].map(([client, totals]) => ({ client, ...totals })))
        .onConflict((c) => c.column('client').doUpdateSet(addExcluded('proxy_client_totals')))
        .execute();
      await trx
        .insertInto('proxy_worker_totals')
        .values([...byWorker].map(([payout_address, totals]) => ({ payout_address, ...totals })))
        .onConflict((c) => c.column('payout_address').doUpdateSet(addExcluded('proxy_worker_totals')))
        .execute();
      return ids;
    });
  }

  /** A receipt by its id or its job id, only to the client it names. */
  async find(idOrJobId: string, client: string): Promise<SignedReceipt | undefined> {
    const row = await this.db
      .selectFrom('proxy_receipts')
      .select(['boc', 'signature'])
      .where((eb) => eb.or([eb('id', '=', idOrJobId), eb('job_id', '=', idOrJobId)]))
      .where('client', '=', client)
      .executeTakeFirst();
    return row === undefined ? undefined : { boc: row.boc, signature: row.signature };
  }

  async clientTotals(client: string): Promise<Totals> {
    const row = await this.db
      .selectFrom('proxy_client_totals')
      .selectAll()
      .where('client', '=', client)
      .executeTakeFirst();
    return row === undefined ? ZERO_TOTALS : totalsOf(row);
  }

  async workerTotals(payoutAddress: string): Promise<Totals> {
    const row = await this.db
      .selectFrom('proxy_worker_totals')
      .selectAll()
      .where('payout_address', '=', payoutAddress)
      .executeTakeFirst();
    return row === undefined ? ZERO_TOTALS : totalsOf(row);
  }
}

const addExcluded = (table: 'proxy_client_totals' | 'proxy_worker_totals') => ({
  jobs: sql<bigint>`${sql.ref(`${table}.jobs`)} + excluded.jobs`,
  prompt_tokens: sql<bigint>`${sql.ref(`${table}.prompt_tokens`)} + excluded.prompt_tokens`,
  completion_tokens: sql<bigint>`${sql.ref(`${table}.completion_tokens`)} + excluded.completion_tokens`,
  amount: sql<bigint>`${sql.ref(`${table}.amount`)} + excluded.amount`,
});

const totalsOf = (row: TotalsColumns): Totals => ({
  jobs: BigInt(row.jobs),
  promptTokens: BigInt(row.prompt_tokens),
  completionTokens: BigInt(row.completion_tokens),
  amount: BigInt(row.amount),
});
