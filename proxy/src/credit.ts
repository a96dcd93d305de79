import { withTransaction } from '@cocoon/shared/store/index';
import type { Kysely } from 'kysely';
import type { ProxyDb } from './db.js';
import { ProxyError } from './errors.js';

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

/**
 * Credit in the shared store, so several proxies on one Postgres hold one view of each client: the
 * client's row is locked while a reservation is checked and taken.
 */
export class StoreCredit implements CreditSource {
  constructor(
    private readonly db: Kysely<ProxyDb>,
    private readonly allowances: ClientAllowance,
  ) {}

  async reserve(client: string, jobId: string, amount: bigint): Promise<void> {
    const allowance = await this.allowances.allowance(client);
    await withTransaction(this.db, async (trx) => {
      await trx
        .insertInto('proxy_credit')
        .values({ client, charged: 0n, reserved: 0n })
        .onConflict((c) => c.column('client').doNothing())
        .execute();
      const row = await trx
        .selectFrom('proxy_credit')
        .select(['charged', 'reserved'])
        .where('client', '=', client)
        .forUpdate()
        .executeTakeFirstOrThrow();
      const available = allowance - BigInt(row.charged) - BigInt(row.reserved);
      if (available < amount) throw insufficient(available, amount);
      const taken = await trx
        .insertInto('proxy_reservations')
        .values({ job_id: jobId, client, amount })
        .onConflict((c) => c.column('job_id').doNothing())
        .executeTakeFirst();
      if ((taken.numInsertedOrUpdatedRows ?? 0n) === 0n) {
        throw new ProxyError('duplicate_job', `job ${jobId} already holds credit`);
      }
      await trx
        .updateTable('proxy_credit')
        .set((eb) => ({ reserved: eb('reserved', '+', amount) }))
        .where('client', '=', client)
        .execute();
    });
  }

  async settle(jobId: string, spent: bigint): Promise<void> {
    await withTransaction(this.db, async (trx) => {
      const reservation = await trx
        .deleteFrom('proxy_reservations')
        .where('job_id', '=', jobId)
        .returning(['client', 'amount'])
        .executeTakeFirst();
      if (reservation === undefined) return;
      const amount = BigInt(reservation.amount);
      const charged = spent < amount ? spent : amount;
      await trx
        .updateTable('proxy_credit')
        .set((eb) => ({ reserved: eb('reserved', '-', amount), charged: eb('charged', '+', charged) }))
        .where('client', '=', reservation.client)
        .execute();
    });
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
