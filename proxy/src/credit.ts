import { type Kysely, sql } from 'kysely';
import type { ProxyDb } from './db.js';
import { ProxyError } from './errors.js';
import { GroupCommit } from './group-commit.js';

/**
 * The most a client may have charged in total: what its on-chain deposit and signed cumulative totals
 * allow (read from the chain by the settlement issue; a fixed line of credit until then).
 */
export interface ClientAllowance {
  allowance(client: string): Promise<bigint>;
}

export const fixedAllowance = (amount: bigint): ClientAllowance => ({ allowance: async () => amount });

/**
 * Credit held against clients while their jobs run. A job reserves its maxCost before it is queued; when
 * it ends, `settle` charges what its receipt says (0 without one) and releases the rest, once.
 */
export interface CreditSource {
  /** Throws ProxyError('insufficient_credit') when allowance − charged − reserved < amount. */
  reserve(client: string, jobId: string, amount: bigint): Promise<void>;
  /** Ends the job's reservation; `spent` must not exceed what was reserved. A second call does nothing. */
  settle(jobId: string, spent: bigint): Promise<void>;
  /** allowance − charged − reserved. */
  available(client: string): Promise<bigint>;
  /** After a restart: settles reservations older than any job can run, from the stored receipts. */
  recover?(olderThanMs: number): Promise<number>;
}

const compare = (a = '', b = ''): number => (a < b ? -1 : a > b ? 1 : 0);

const insufficient = (available: bigint, amount: bigint) =>
  new ProxyError('insufficient_credit', `job needs ${amount} nanotons of credit, ${available} available`);

/** Credit kept in this process only: for one proxy, tests and benchmarks. */
export class MemoryCredit implements CreditSource {
  readonly #charged = new Map<string, bigint>();
  readonly #reserved = new Map<string, bigint>();
  readonly #reservations = new Map<string, { client: string; amount: bigint }>();

  constructor(private readonly allowances: ClientAllowance) {}

  async reserve(client: string, jobId: string, amount: bigint): Promise<void> {
    const allowance = await this.allowances.allowance(client);
    // No await from here on: the check and the reservation happen as one step.
    if (this.#reservations.has(jobId)) {
      throw new ProxyError('duplicate_job', `job ${jobId} already holds credit`);
    }
    const available = this.#available(client, allowance);
    if (available < amount) throw insufficient(available, amount);
    this.#reservations.set(jobId, { client, amount });
    this.#reserved.set(client, (this.#reserved.get(client) ?? 0n) + amount);
  }

  async settle(jobId: string, spent: bigint): Promise<void> {
    const reservation = this.#reservations.get(jobId);
    if (reservation === undefined) return;
    this.#reservations.delete(jobId);
    const { client, amount } = reservation;
    this.#reserved.set(client, (this.#reserved.get(client) ?? 0n) - amount);
    this.#charged.set(client, (this.#charged.get(client) ?? 0n) + (spent < amount ? spent : amount));
  }

  async available(client: string): Promise<bigint> {
    return this.#available(client, await this.allowances.allowance(client));
  }

  #available(client: string, allowance: bigint): bigint {
    return allowance - (this.#charged.get(client) ?? 0n) - (this.#reserved.get(client) ?? 0n);
  }
}

/** Reservations taken or ended per statement (arrays, not a parameter per value). */
const MAX_BATCH = 500;

interface Reservation {
  client: string;
  jobId: string;
  amount: bigint;
  allowance: bigint;
}
type ReserveOutcome = 'reserved' | 'insufficient' | 'duplicate';

/**
 * Credit in the shared store, so several proxies on one Postgres hold one view of each client. Reservations
 * and settlements are group-committed (`proxy_reserve`, `proxy_settle`, db.ts): jobs arriving together
 * share one statement, each client's row locked while its credit is checked and taken.
 */
export class StoreCredit implements CreditSource {
  readonly #reservations = new GroupCommit(
    (reservations: Reservation[]) => this.#reserve(reservations),
    MAX_BATCH,
  );
  readonly #settlements = new GroupCommit(
    (settlements: { jobId: string; spent: bigint }[]) => this.#settle(settlements),
    MAX_BATCH,
  );

  constructor(
    private readonly db: Kysely<ProxyDb>,
    private readonly allowances: ClientAllowance,
  ) {}

  async reserve(client: string, jobId: string, amount: bigint): Promise<void> {
    const allowance = await this.allowances.allowance(client);
    const outcome = await this.#reservations.submit({ client, jobId, amount, allowance });
    if (outcome === 'reserved') return;
    if (outcome === 'duplicate') throw new ProxyError('duplicate_job', `job ${jobId} already holds credit`);
    if (outcome === 'insufficient') throw insufficient(await this.available(client), amount);
    throw new Error(`proxy_reserve gave no outcome for job ${jobId}`);
  }

  settle(jobId: string, spent: bigint): Promise<void> {
    return this.#settlements.submit({ jobId, spent });
  }

  /** In client order, the order every statement locks credit rows in. */
  async #reserve(batch: Reservation[]): Promise<ReserveOutcome[]> {
    const order = batch.map((_, i) => i).sort((a, b) => compare(batch[a]?.client, batch[b]?.client));
    const sorted = order.map((i) => batch[i] as Reservation);
    const { rows } = await sql<{ outcome: ReserveOutcome }>`
      select outcome from proxy_reserve(
        ${sorted.map((r) => r.jobId)}::text[], ${sorted.map((r) => r.client)}::text[],
        ${sorted.map((r) => String(r.amount))}::numeric[], ${sorted.map((r) => String(r.allowance))}::numeric[]
      ) as outcome`.execute(this.db);
    const outcomes: ReserveOutcome[] = new Array(batch.length);
    for (const [position, i] of order.entries()) outcomes[i] = rows[position]?.outcome as ReserveOutcome;
    return outcomes;
  }

  async #settle(settlements: { jobId: string; spent: bigint }[]): Promise<undefined[]> {
    await sql`
      select proxy_settle(${settlements.map((s) => s.jobId)}::text[],
                          ${settlements.map((s) => String(s.spent))}::numeric[])`.execute(this.db);
    return settlements.map(() => undefined);
  }

  async available(client: string): Promise<bigint> {
    const allowance = await this.allowances.allowance(client);
    const row = await this.db
      .selectFrom('proxy_credit')
      .select(['charged', 'reserved'])
      .where('client', '=', client)
      .executeTakeFirst();
    return row === undefined ? allowance : allowance - BigInt(row.charged) - BigInt(row.reserved);
  }

  /**
   * After a crash: settles reservations older than `olderThanMs` (no job runs that long) with the amount
   * of the job's stored receipt, or 0 when it has none.
   */
  async recover(olderThanMs: number): Promise<number> {
    const stale = await this.db
      .selectFrom('proxy_reservations as r')
      .leftJoin('proxy_receipts as p', 'p.job_id', 'r.job_id')
      .select(['r.job_id', 'p.amount'])
      .where('r.created_at', '<', new Date(Date.now() - olderThanMs))
      .execute();
    for (const { job_id, amount } of stale) await this.settle(job_id, amount === null ? 0n : BigInt(amount));
    return stale.length;
  }
}
