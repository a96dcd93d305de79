import { type Kysely, sql } from 'kysely';
import type { ProxyDb } from './db.js';
import { ProxyError } from './errors.js';
import { GroupCommit } from './group-commit.js';

/** SQLSTATE of a unique constraint violation. */
const UNIQUE_VIOLATION = '23505';

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

/** Reservations ended per statement (arrays, not a parameter per value). */
const MAX_SETTLE_BATCH = 500;

/**
 * Credit in the shared store, so several proxies on one Postgres hold one view of each client. Each
 * reservation is one statement (the client's row is locked while its credit is checked and taken), and
 * settlements are group-committed: they come after the client's answer, so batching them delays nobody.
 */
export class StoreCredit implements CreditSource {
  readonly #settlements = new GroupCommit(
    (settlements: { jobId: string; spent: bigint }[]) => this.#settle(settlements),
    MAX_SETTLE_BATCH,
  );

  constructor(
    private readonly db: Kysely<ProxyDb>,
    private readonly allowances: ClientAllowance,
  ) {}

  async reserve(client: string, jobId: string, amount: bigint): Promise<void> {
    const allowance = await this.allowances.allowance(client);
    let reserved: boolean;
    try {
      // One statement, so atomic: the credit taken only if it is there, and the reservation beside it; a
      // job id already reserved fails the whole statement (unique violation), taking nothing.
      const { rows } = await sql<{ job_id: string }>`
        with credit as (
          insert into proxy_credit as credit (client, charged, reserved)
          select ${client}, 0, ${amount}::numeric where ${allowance}::numeric >= ${amount}::numeric
          on conflict (client) do update set reserved = credit.reserved + excluded.reserved
          where ${allowance}::numeric - credit.charged - credit.reserved >= excluded.reserved
          returning client
        )
        insert into proxy_reservations (job_id, client, amount)
        select ${jobId}, client, ${amount}::numeric from credit
        returning job_id`.execute(this.db);
      reserved = rows.length === 1;
    } catch (error) {
      if ((error as { code?: unknown } | null)?.code === UNIQUE_VIOLATION) {
        throw new ProxyError('duplicate_job', `job ${jobId} already holds credit`);
      }
      throw error;
    }
    if (!reserved) throw insufficient(await this.available(client), amount);
  }

  settle(jobId: string, spent: bigint): Promise<void> {
    return this.#settlements.submit({ jobId, spent });
  }

  /**
   * Deletes the batch's reservations and moves their amounts per client from reserved to charged (what
   * was spent, at most what was reserved), in one statement, clients in key order (no deadlock between
   * proxies). A reservation already gone (settled before, or by the ledger with its receipt) changes
   * nothing.
   */
  async #settle(settlements: { jobId: string; spent: bigint }[]): Promise<undefined[]> {
    await sql`
      with ended as (
        delete from proxy_reservations as reservation
        using unnest(${settlements.map((s) => s.jobId)}::text[],
                     ${settlements.map((s) => String(s.spent))}::numeric[]) as input(job_id, spent)
        where reservation.job_id = input.job_id
        returning reservation.client, reservation.amount, least(reservation.amount, input.spent) as charged
      )
      insert into proxy_credit as credit (client, charged, reserved)
      select client, sum(charged), -sum(amount) from ended group by client order by client
      on conflict (client) do update
      set charged = credit.charged + excluded.charged, reserved = credit.reserved + excluded.reserved`.execute(
      this.db,
    );
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
