import { type Clock, sha256, toHex, utf8 } from '@cocoon/shared';
import type { Logger } from '@cocoon/shared/log';
import type { Kysely } from 'kysely';
import type { ProxyDb } from '../db.js';
import type { ChainStateRecord, SettlementChain } from './port.js';

/** The proxy's own record of a state hash it computed (and then sent). */
export interface LocalStateRecord {
  seqno: bigint;
  stateHash: string;
}

const ZERO_HASH = '0'.repeat(64);

/**
 * The Proxy contract holds a state record this database never wrote, or a different hash for the same
 * seqno: the database is an older copy (or another proxy's). Settling from it could charge or pay twice.
 */
export class StateRollbackError extends Error {
  override readonly name = 'StateRollbackError';
  constructor(
    readonly chain: ChainStateRecord,
    /** The database's record at the chain's seqno (undefined when it has none). */
    readonly atChainSeqno: LocalStateRecord | undefined,
    /** The database's latest record (undefined when it has none). */
    readonly latest: LocalStateRecord | undefined,
  ) {
    const onChain = `the Proxy contract records state #${chain.seqno} (hash ${chain.stateHash}, at unix ${chain.at})`;
    const local =
      atChainSeqno !== undefined
        ? `the database has hash ${atChainSeqno.stateHash} for #${chain.seqno}`
        : latest !== undefined
          ? `the database's latest state is #${latest.seqno} (hash ${latest.stateHash})`
          : 'the database has no state record';
    super(
      `settlement refused: ${onChain} but ${local}; the database was rolled back or belongs to another ` +
        'proxy. Restore the latest copy before settling again.',
    );
  }
}

export interface StateAnchorDeps {
  db: Kysely<ProxyDb>;
  chain: SettlementChain;
  /** How often a state hash is recorded (SettlementSettings.stateIntervalMs). */
  intervalMs: number;
  /** How often the schedule is checked (SettlementSettings.tickMs). */
  tickMs: number;
  clock: Clock;
  log?: Logger;
}

/**
 * Anchors the proxy's settlement state on its Proxy contract so a restart on a rolled-back database is caught.
 *
 * Every `intervalMs` it writes record #n = (n, H_n) to `proxy_state_records`, then sends it to the contract,
 * which keeps the latest record and only accepts a higher seqno. H_n = SHA-256 of H_(n−1), n, and a digest
 * of every money total settlement reads: per client its jobs, metered amount and latest signed total; per
 * worker its jobs, metered amount and earned amount. Recomputing from the totals tables is one scan per
 * interval and needs no hook in the metering path; chaining the previous hash makes each record commit to
 * the history before it.
 *
 * On start, `verify` requires the database to hold the chain's record with the same hash: a database
 * restored from a copy older than the last record sent lacks it, and is refused. (A copy less than one
 * interval old cannot be told apart: the interval bounds what a rollback can hide.)
 */
export class StateAnchor {
  readonly #db: Kysely<ProxyDb>;
  readonly #chain: SettlementChain;
  readonly #deps: StateAnchorDeps;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastRecordedAt = Number.NEGATIVE_INFINITY;

  constructor(deps: StateAnchorDeps) {
    this.#db = deps.db;
    this.#chain = deps.chain;
    this.#deps = deps;
  }

  /** Throws StateRollbackError unless the database holds the chain's latest record, hash included. */
  async verify(): Promise<void> {
    const onChain = await this.#chain.stateRecord();
    if (onChain.seqno === 0n) return;
    const atChainSeqno = await this.#record(onChain.seqno);
    if (atChainSeqno?.stateHash === onChain.stateHash) return;
    throw new StateRollbackError(onChain, atChainSeqno, await this.latest());
  }

  async latest(): Promise<LocalStateRecord | undefined> {
    const row = await this.#db
      .selectFrom('proxy_state_records')
      .select(['seqno', 'state_hash'])
      .orderBy('seqno', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && { seqno: BigInt(row.seqno), stateHash: row.state_hash };
  }

  async #record(seqno: bigint): Promise<LocalStateRecord | undefined> {
    const row = await this.#db
      .selectFrom('proxy_state_records')
      .select(['seqno', 'state_hash'])
      .where('seqno', '=', seqno)
      .executeTakeFirst();
    return row && { seqno: BigInt(row.seqno), stateHash: row.state_hash };
  }

  /** The canonical digest of the settlement totals: one line per client and per worker, sorted. */
  async digest(): Promise<string> {
    const [clients, vouchers, workers, earnings] = await Promise.all([
      this.#db.selectFrom('proxy_client_totals').select(['client', 'jobs', 'amount']).execute(),
      this.#db.selectFrom('proxy_vouchers').select(['client', 'total']).execute(),
      this.#db.selectFrom('proxy_worker_totals').select(['payout_address', 'jobs', 'amount']).execute(),
      this.#db.selectFrom('proxy_worker_earnings').select(['payout_address', 'earned']).execute(),
    ]);
    const clientTotals = new Map(clients.map((c) => [c.client, c]));
    const signed = new Map(vouchers.map((v) => [v.client, BigInt(v.total)]));
    const workerTotals = new Map(workers.map((w) => [w.payout_address, w]));
    const earned = new Map(earnings.map((e) => [e.payout_address, BigInt(e.earned)]));
    const lines: string[] = [];
    // a key in either table counts: a lost row on one side must change the hash too
    for (const client of new Set([...clientTotals.keys(), ...signed.keys()])) {
      const totals = clientTotals.get(client);
      lines.push(
        `client ${client} ${totals?.jobs ?? 0n} ${totals?.amount ?? 0n} ${signed.get(client) ?? 0n}`,
      );
    }
    for (const payout of new Set([...workerTotals.keys(), ...earned.keys()])) {
      const totals = workerTotals.get(payout);
      lines.push(
        `worker ${payout} ${totals?.jobs ?? 0n} ${totals?.amount ?? 0n} ${earned.get(payout) ?? 0n}`,
      );
    }
    return lines.sort().join('\n');
  }

  /** H_n over the previous hash, the seqno and the digest. */
  static chainHash(previous: string, seqno: bigint, digest: string): string {
    return toHex(sha256(utf8(`cocoon-proxy-state/1\n${previous}\n${seqno}\n${digest}`)));
  }

  /** Writes the next record, then sends it; returns it. The row is written first, so a sent hash is known. */
  async record(): Promise<LocalStateRecord> {
    const latest = await this.latest();
    const seqno = (latest?.seqno ?? 0n) + 1n;
    const stateHash = StateAnchor.chainHash(latest?.stateHash ?? ZERO_HASH, seqno, await this.digest());
    // two proxies on one store race for the seqno: the primary key lets one win, the other retries next tick
    await this.#db.insertInto('proxy_state_records').values({ seqno, state_hash: stateHash }).execute();
    await this.#chain.sendStateRecord(seqno, stateHash);
    this.#deps.log?.debug({ seqno: seqno.toString(), stateHash }, 'state hash recorded');
    return { seqno, stateHash };
  }

  /** Records a state hash once `intervalMs` passed since the last one (at once on the first tick). */
  tick(): Promise<void> {
    // cleared in a later microtask, so a run that finishes at once cannot leave itself behind
    this.#running ??= this.#recordIfDue().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #recordIfDue(): Promise<void> {
    const now = this.#deps.clock.now();
    if (now - this.#lastRecordedAt < this.#deps.intervalMs) return;
    try {
      await this.record();
      this.#lastRecordedAt = now;
    } catch (error) {
      this.#deps.log?.error({ err: (error as Error).message }, 'state hash not recorded');
    }
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.tick(), Math.min(this.#deps.tickMs, this.#deps.intervalMs));
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
