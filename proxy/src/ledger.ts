// Node-only by nature: persists receipts and totals in the shared SQL store.
import {
  jobCost,
  type ModelOffer,
  type Receipt,
  ReceiptError,
  receiptId,
  type SignedReceipt,
} from '@cocoon/shared';
import { openReceipt } from '@cocoon/shared/receipt';
import { type Insertable, type Kysely, sql } from 'kysely';
import type { ProxyDb, ReceiptsTable, TotalsColumns } from './db.js';
import { GroupCommit } from './group-commit.js';

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

/**
 * Verifies a receipt's signature against the attested key and its fields against the job's terms.
 * Returns it with its id (the cell hash), which the ledger stores it under.
 */
export async function checkReceipt(
  signed: SignedReceipt,
  terms: JobTerms,
): Promise<{ receipt: Receipt; id: string }> {
  let receipt: Receipt;
  let id: string;
  try {
    ({ receipt, id } = await openReceipt(signed, terms.workerSignKey));
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
  return { receipt, id };
}

export interface Totals {
  jobs: bigint;
  promptTokens: bigint;
  completionTokens: bigint;
  amount: bigint;
}

const ZERO_TOTALS: Totals = { jobs: 0n, promptTokens: 0n, completionTokens: 0n, amount: 0n };

/** Receipts per statement; a batch is one statement whatever its size (arrays, not a parameter per value). */
const MAX_BATCH = 500;

/**
 * Receipts and the cumulative totals they add up to, per client and per worker (payout address).
 * Writes are group-committed (one statement per batch); no caller hears back before its receipt is
 * committed.
 */
export class Ledger {
  readonly #writes = new GroupCommit((rows: Insertable<ReceiptsTable>[]) => this.#write(rows), MAX_BATCH);
  /** The last receipt write failed, and no write or probe has succeeded since. */
  #failing = false;
  #probing = false;

  constructor(private readonly db: Kysely<ProxyDb>) {}

  /**
   * Whether receipts can be recorded now, as far as the last write or probe knows. While they cannot, the
   * proxy takes no new job (its worker would not be paid, its client not charged); when asked while
   * failing, it probes the store again (one probe at a time).
   */
  writable(): boolean {
    if (this.#failing && !this.#probing) {
      this.#probing = true;
      sql`select 1`
        .execute(this.db)
        .then(
          () => {
            this.#failing = false;
          },
          // still unreachable: stays failing, and the next admission probes again
          () => {},
        )
        .finally(() => {
          this.#probing = false;
        });
    }
    return !this.#failing;
  }

  /**
   * Stores a checked receipt and adds it to both totals, atomically. A receipt already stored (the same
   * id, or another receipt for the same job) adds nothing: `fresh` is false.
   */
  record(
    signed: SignedReceipt,
    receipt: Receipt,
    payoutAddress: string,
    id: string = receiptId(receipt),
  ): Promise<{ id: string; fresh: boolean }> {
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
    return this.#writes.submit(row).then((fresh) => ({ id, fresh }));
  }

  /**
   * One statement, so atomic without a transaction (`proxy_record_receipts`, db.ts): the receipts and their
   * totals (the client's is what its credit counts as charged). Returns per row whether it was fresh (of
   * rows with the same id in one batch, the first).
   */
  async #write(rows: Insertable<ReceiptsTable>[]): Promise<boolean[]> {
    const column = (name: keyof Insertable<ReceiptsTable>) => rows.map((row) => String(row[name]));
    let inserted: { id: string }[];
    try {
      ({ rows: inserted } = await sql<{ id: string }>`
        select id from proxy_record_receipts(
          ${column('id')}::text[], ${column('job_id')}::text[], ${column('client')}::text[],
          ${column('worker_key')}::text[], ${column('payout_address')}::text[], ${column('model')}::text[],
          ${column('prompt_tokens')}::integer[], ${column('completion_tokens')}::integer[],
          ${column('price_per_token')}::numeric[], ${column('amount')}::numeric[],
          ${column('receipt_time')}::integer[], ${column('boc')}::text[], ${column('signature')}::text[]
        ) as id`.execute(this.db));
    } catch (error) {
      this.#failing = true;
      throw error;
    }
    this.#failing = false;
    const ids = new Set(inserted.map((row) => row.id));
    return rows.map((row) => ids.delete(row.id));
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

const totalsOf = (row: TotalsColumns): Totals => ({
  jobs: BigInt(row.jobs),
  promptTokens: BigInt(row.prompt_tokens),
  completionTokens: BigInt(row.completion_tokens),
  amount: BigInt(row.amount),
});
