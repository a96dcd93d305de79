import { randomUUID } from 'node:crypto';
import { minAmount } from '@cocoon/shared';
import type { Logger } from '@cocoon/shared/log';
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
  /** Frees credit held by proxies that died at least `olderThanMs` ago (no job of theirs can still run). */
  recover?(olderThanMs: number): Promise<number>;
  /** Gives back what this proxy holds for clients; called once its jobs have ended. */
  close?(): Promise<void>;
}

const compare = (a = '', b = ''): number => (a < b ? -1 : a > b ? 1 : 0);

const duplicate = (jobId: string) => new ProxyError('duplicate_job', `job ${jobId} already holds credit`);

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
      throw duplicate(jobId);
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

/** Lease changes per statement (arrays, not a parameter per value). */
const MAX_BATCH = 500;

const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const sum = (amounts: Iterable<bigint>): bigint => {
  let total = 0n;
  for (const amount of amounts) total += amount;
  return total;
};

/** One client's row of a `proxy_lease` statement (db.ts). */
interface LeaseChange {
  client: string;
  /** Given back: what receipts charged since the store last took it off the lease, and unused credit. */
  returns: bigint;
  /** The least worth taking (0: any). */
  needs: bigint;
  /** Taken, as much as the client's credit allows (0: nothing). */
  wants: bigint;
  allowance: bigint;
}
/** A statement that only marks this holder's leases as alive. */
const RENEW = Symbol('renew');

interface Waiter {
  jobId: string;
  amount: bigint;
  resolve(): void;
  reject(error: unknown): void;
}

/** What this proxy holds for one client: `free` is what its next jobs reserve without the store. */
class ClientLease {
  /** The lease as stored. */
  leased = 0n;
  /** Held by this proxy's jobs in flight. */
  reserved = 0n;
  /** Charged by receipts (so in the client's receipt total) and still in `leased` until given back. */
  spent = 0n;
  /** Charged since the last fold, and in the interval before it (what a lease is sized for). */
  spentSinceFold = 0n;
  recentSpend = 0n;
  /** The most held by jobs in flight at once since the last fold, and in the interval before it. */
  peakSinceFold = 0n;
  recentPeak = 0n;
  /** A job reserved since the last fold. */
  active = false;
  /** The allowance the lease was last topped up under: if it falls, what is left is checked again. */
  grantedUnder: bigint | undefined;
  /** Jobs waiting for the store, in arrival order; `requesting` while a statement is on its way. */
  readonly waiting: Waiter[] = [];
  requesting = false;

  get free(): bigint {
    return this.leased - this.reserved - this.spent;
  }

  /**
   * Room kept free for the client: as much again as its jobs in flight (at their recent peak: their number
   * comes and goes), or two intervals' spending.
   */
  get cushion(): bigint {
    const inFlight = max(this.reserved + sum(this.waiting.map((w) => w.amount)), this.peakSinceFold);
    return max(max(inFlight, this.recentPeak), 2n * this.recentSpend);
  }
}

export interface StoreCreditOptions {
  /** How often leases are settled with the store: charged credit and idle leases given back, leases renewed. */
  foldMs?: number;
  log?: Logger;
}

/**
 * Credit in the shared store, so several proxies on one Postgres hold one view of each client, taken in
 * leases so that a job's reservation needs no statement of its own. Each proxy (holder) leases part of a
 * client's credit (`proxy_lease`, db.ts: allowance − the client's receipt total − every lease ≥ what it
 * takes, the client's row locked) and its jobs reserve from the lease in memory; the lease is topped up in
 * the background before it runs out (a job waits for the store only when its lease cannot cover it), what
 * receipts charged is given back to it every fold, and an idle client's lease is given back whole. A lease
 * whose holder stops renewing it (a crashed proxy) is released by `recover`. Receipts never touch a credit
 * row, so recording them never waits for a lease, nor a lease for them.
 *
 * A lease held by one proxy is credit another proxy cannot use for the same client until it is given back
 * (within two folds once the client is idle there), and a job id is known as a duplicate only to the proxy
 * holding it (the receipt's unique job id keeps a job replayed elsewhere from being charged twice).
 */
export class StoreCredit implements CreditSource {
  /** This process's name on its leases. */
  readonly holder = randomUUID();
  readonly #foldMs: number;
  readonly #log: Logger | undefined;
  readonly #leases = new Map<string, ClientLease>();
  /** Jobs holding credit here, and jobs waiting for it (`waiting`). */
  readonly #jobs = new Map<string, { client: string; amount: bigint; waiting: boolean }>();
  readonly #changes = new GroupCommit(
    (changes: (LeaseChange | typeof RENEW)[]) => this.#write(changes),
    MAX_BATCH,
  );
  #renewedAt = 0;
  #foldTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly db: Kysely<ProxyDb>,
    private readonly allowances: ClientAllowance,
    options: StoreCreditOptions = {},
  ) {
    this.#foldMs = options.foldMs ?? 250;
    this.#log = options.log;
  }

  async reserve(client: string, jobId: string, amount: bigint): Promise<void> {
    if (this.#jobs.has(jobId)) throw duplicate(jobId);
    const allowance = await this.allowances.allowance(client);
    // No await from here on until the job is held or queued.
    if (this.#jobs.has(jobId)) throw duplicate(jobId);
    if (this.#closed) throw new ProxyError('internal', 'the proxy is shutting down');
    const lease = this.#lease(client);
    lease.active = true;
    const lowered = lease.grantedUnder !== undefined && allowance < lease.grantedUnder;
    if (lease.waiting.length === 0 && !lowered && lease.free >= amount) {
      this.#hold(lease, client, jobId, amount);
      // Topped up before it runs out, so that the next jobs need not wait for the store.
      if (!lease.requesting && lease.free < lease.cushion / 2n) void this.#request(client, lease);
      return;
    }
    this.#jobs.set(jobId, { client, amount, waiting: true });
    const held = new Promise<void>((resolve, reject) =>
      lease.waiting.push({ jobId, amount, resolve, reject }),
    );
    if (!lease.requesting) void this.#request(client, lease);
    return held;
  }

  async settle(jobId: string, spent: bigint): Promise<void> {
    const job = this.#jobs.get(jobId);
    if (job === undefined || job.waiting) return;
    this.#jobs.delete(jobId);
    const lease = this.#lease(job.client);
    const charged = minAmount(spent, job.amount);
    lease.reserved -= job.amount;
    lease.spent += charged;
    lease.spentSinceFold += charged;
  }

  /** What this proxy could reserve for the client now: its credit less every other proxy's lease. */
  async available(client: string): Promise<bigint> {
    const allowance = await this.allowances.allowance(client);
    // One statement, so the leases and this proxy's own from one snapshot, whatever lease statement is on its
    // way (the local lease already counts what such a statement gives back).
    const { rows } = await sql<{ held: string | null; own: string | null; charged: string | null }>`
      select (select held from proxy_credit where client = ${client}) as held,
             (select amount from proxy_credit_leases where client = ${client} and holder = ${this.holder}) as own,
             (select amount from proxy_client_totals where client = ${client}) as charged`.execute(this.db);
    const [row] = rows;
    const othersHold = BigInt(row?.held ?? 0) - BigInt(row?.own ?? 0);
    return allowance - BigInt(row?.charged ?? 0) - othersHold - (this.#leases.get(client)?.reserved ?? 0n);
  }

  /** Releases the leases of proxies that stopped renewing them at least `olderThanMs` ago (they died). */
  async recover(olderThanMs: number): Promise<number> {
    // A live holder renews every fold: never count one as gone within a few of them.
    const seconds = Math.max(olderThanMs, 4 * this.#foldMs) / 1000;
    const { rows } = await sql<{ released: number }>`
      select proxy_release_stale_leases(now() - make_interval(secs => ${seconds})) as released`.execute(
      this.db,
    );
    return Number(rows[0]?.released ?? 0);
  }

  /** Gives every lease back (the proxy is stopping: its jobs have ended). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#foldTimer);
    const held = [...this.#leases].filter(([, lease]) => lease.leased > 0n);
    try {
      await Promise.all(
        held.map(([client, lease]) =>
          this.#change(lease, { client, returns: lease.leased, needs: 0n, wants: 0n, allowance: 0n }, 0n),
        ),
      );
    } catch (error) {
      this.#log?.warn({ err: error }, 'could not give back credit leases; they are released once stale');
    }
  }

  /**
   * One lease statement. What it gives back leaves the lease at once, so that no job takes it meanwhile
   * (`folded` of it is charged credit, leaving `spent` too); the lease as stored replaces it once written,
   * and it comes back if the write fails.
   */
  async #change(lease: ClientLease, change: LeaseChange, folded: bigint): Promise<void> {
    lease.leased -= change.returns;
    lease.spent -= folded;
    try {
      const stored = await this.#changes.submit(change);
      if (stored !== undefined) lease.leased = stored;
    } catch (error) {
      lease.leased += change.returns;
      lease.spent += folded;
      throw error;
    }
  }

  #lease(client: string): ClientLease {
    let lease = this.#leases.get(client);
    if (lease === undefined) {
      lease = new ClientLease();
      this.#leases.set(client, lease);
      this.#scheduleFold();
    }
    return lease;
  }

  #hold(lease: ClientLease, client: string, jobId: string, amount: bigint): void {
    lease.reserved += amount;
    lease.peakSinceFold = max(lease.peakSinceFold, lease.reserved);
    this.#jobs.set(jobId, { client, amount, waiting: false });
  }

  /**
   * One statement for the client's lease: gives back what receipts charged (and, if its allowance fell, what
   * is unused), then takes what the waiting jobs and the cushion need; then serves the waiting jobs in order.
   */
  async #request(client: string, lease: ClientLease): Promise<void> {
    lease.requesting = true;
    const round = lease.waiting.slice();
    try {
      const allowance = await this.allowances.allowance(client);
      const lowered = lease.grantedUnder !== undefined && allowance < lease.grantedUnder;
      const folded = lease.spent;
      const unused = lowered ? max(lease.free, 0n) : 0n;
      const freeAfter = lease.free - unused;
      const needs = round.length > 0 ? max((round[0] as Waiter).amount - freeAfter, 0n) : 0n;
      const wants = max(sum(round.map((w) => w.amount)) + lease.cushion - freeAfter, 0n);
      await this.#change(lease, { client, returns: folded + unused, needs, wants, allowance }, folded);
      lease.grantedUnder = allowance;
    } catch (error) {
      for (const waiter of round) this.#dropWaiter(lease, waiter, error);
      if (round.length === 0) this.#log?.warn({ err: error }, 'could not top up a credit lease');
    }
    // In arrival order, each job on its own: one that does not fit is refused, a smaller one after it may fit.
    while (lease.waiting.length > 0) {
      const waiter = lease.waiting[0] as Waiter;
      const inRound = round.includes(waiter);
      if (lease.free >= waiter.amount) {
        lease.waiting.shift();
        this.#hold(lease, client, waiter.jobId, waiter.amount);
        waiter.resolve();
      } else if (inRound) {
        this.#dropWaiter(lease, waiter, insufficient(max(lease.free, 0n), waiter.amount));
      } else {
        break;
      }
    }
    lease.requesting = false;
    // Jobs that came while the statement ran and did not fit get a statement of their own.
    if (lease.waiting.length > 0) void this.#request(client, lease);
  }

  #dropWaiter(lease: ClientLease, waiter: Waiter, error: unknown): void {
    const at = lease.waiting.indexOf(waiter);
    if (at >= 0) lease.waiting.splice(at, 1);
    this.#jobs.delete(waiter.jobId);
    waiter.reject(error);
  }

  #scheduleFold(): void {
    if (this.#foldTimer !== undefined || this.#closed) return;
    this.#foldTimer = setTimeout(() => {
      this.#foldTimer = undefined;
      this.#fold().finally(() => {
        if (this.#leases.size > 0) this.#scheduleFold();
      });
    }, this.#foldMs);
    this.#foldTimer.unref();
  }

  /**
   * Gives back what receipts charged, an idle client's whole lease and a busy one's excess, and renews the
   * leases kept; forgets clients with nothing left here.
   */
  async #fold(): Promise<void> {
    const changes: Promise<void>[] = [];
    for (const [client, lease] of this.#leases) {
      lease.recentSpend = lease.spentSinceFold;
      lease.spentSinceFold = 0n;
      lease.recentPeak = lease.peakSinceFold;
      lease.peakSinceFold = lease.reserved;
      const idle = !lease.active && lease.reserved === 0n && lease.waiting.length === 0;
      lease.active = false;
      if (lease.requesting) continue;
      if (idle && lease.leased === 0n) {
        this.#leases.delete(client);
        continue;
      }
      const free = max(lease.free, 0n);
      const excess = idle ? free : free > 2n * lease.cushion ? free - lease.cushion : 0n;
      const folded = lease.spent;
      if (folded + excess === 0n) continue;
      lease.requesting = true;
      changes.push(
        this.#change(lease, { client, returns: folded + excess, needs: 0n, wants: 0n, allowance: 0n }, folded)
          .catch((error: unknown) =>
            this.#log?.warn({ err: error }, 'could not give back credit; it is tried again'),
          )
          .finally(() => {
            lease.requesting = false;
            if (lease.waiting.length > 0) void this.#request(client, lease);
          }),
      );
    }
    if (changes.length === 0 && this.#leases.size > 0 && Date.now() - this.#renewedAt >= this.#foldMs) {
      changes.push(
        this.#changes.submit(RENEW).then(
          () => {},
          (error: unknown) => this.#log?.warn({ err: error }, 'could not renew credit leases'),
        ),
      );
    }
    await Promise.all(changes);
  }

  /** One `proxy_lease` statement, clients in key order; renews this holder's leases at most once a fold. */
  async #write(batch: (LeaseChange | typeof RENEW)[]): Promise<(bigint | undefined)[]> {
    const changes = batch.filter((change): change is LeaseChange => change !== RENEW);
    const order = changes.map((_, i) => i).sort((a, b) => compare(changes[a]?.client, changes[b]?.client));
    const sorted = order.map((i) => changes[i] as LeaseChange);
    const renew = Date.now() - this.#renewedAt >= this.#foldMs;
    const column = (name: keyof LeaseChange) => sorted.map((change) => String(change[name]));
    const { rows } = await sql<{ client: string; leased: string | bigint }>`
      select client, leased from proxy_lease(
        ${this.holder}, ${column('client')}::text[], ${column('returns')}::numeric[],
        ${column('needs')}::numeric[], ${column('wants')}::numeric[], ${column('allowance')}::numeric[],
        ${renew}
      )`.execute(this.db);
    if (renew) this.#renewedAt = Date.now();
    const leased = new Map(rows.map((row) => [row.client, BigInt(row.leased)]));
    return batch.map((change) => (change === RENEW ? undefined : leased.get(change.client)));
  }
}
