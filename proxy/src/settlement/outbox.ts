import { type Clock, fromHex, SignedOp, signAmount, toHex } from '@cocoon/shared';
import type { Logger } from '@cocoon/shared/log';
import { withTransaction } from '@cocoon/shared/store/index';
import { Address } from '@ton/core';
import { type Kysely, type Selectable, sql } from 'kysely';
import { z } from 'zod';
import type { OutboxTable, ProxyDb } from '../db.js';
import type { SettlementChain } from './port.js';
import type { SettlementSettings } from './settings.js';

type Kind = 'charge' | 'payout';

/** What an outbox row needs to send its message again, exactly as first signed. */
const Payload = z.object({
  /** The Client or Worker contract (raw address). */
  contract: z.string(),
  queryId: z.string().regex(/^[0-9]+$/),
  signature: z.string().regex(/^[0-9a-f]{128}$/),
});

export interface SettlementSummary {
  /** What receipts metered for all clients. */
  metered: bigint;
  /** What clients signed (latest vouchers). */
  signed: bigint;
  /** What the chain confirmed charged (sum of confirmed cumulative charges). */
  charged: bigint;
  /** Workers' share of the metered amount at the Root's rates. */
  earned: bigint;
  /** What the chain confirmed paid to workers. */
  paid: bigint;
  /** Collected in the Proxy contract and not owed to workers: confirmed charges less confirmed payouts. */
  commission: bigint;
  /** The proxy's share of all metered work: metered less earned. */
  commissionAccrued: bigint;
  /** Outbox rows the chain has not confirmed yet. */
  unconfirmed: number;
}

export interface SettlementOutboxDeps {
  db: Kysely<ProxyDb>;
  chain: SettlementChain;
  /** The proxy's Ed25519 key (32-byte seed or 64-byte TON secret key): it signs payouts. */
  proxySecretKey: Uint8Array;
  settings: SettlementSettings;
  clock: Clock;
  log?: Logger;
}

const sumOf = (values: Iterable<bigint>): bigint => {
  let sum = 0n;
  for (const value of values) sum += value;
  return sum;
};

/**
 * Turns signed vouchers and metered worker earnings into on-chain messages through the persisted outbox
 * (`proxy_outbox`). Each row is one cumulative total for one contract, written before it is sent; a row is
 * sent again until the contract's getter shows the total, and since totals only grow, a message that lands
 * twice moves money once. Only a target's highest unconfirmed total is sent: it covers the lower ones.
 */
export class SettlementOutbox {
  readonly #db: Kysely<ProxyDb>;
  readonly #chain: SettlementChain;
  readonly #settings: SettlementSettings;
  readonly #clock: Clock;
  readonly #log: Logger | undefined;
  readonly #proxySecretKey: Uint8Array;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastChargeSweep: number;
  #lastPayoutSweep: number;

  constructor(deps: SettlementOutboxDeps) {
    this.#db = deps.db;
    this.#chain = deps.chain;
    this.#settings = deps.settings;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#proxySecretKey = deps.proxySecretKey;
    this.#lastChargeSweep = this.#clock.now();
    this.#lastPayoutSweep = this.#clock.now();
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.tick(), this.#settings.tickMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Plans new messages at thresholds and intervals, then sends and confirms; one run at a time. */
  tick(): Promise<void> {
    this.#running ??= (async () => {
      // A failed plan (the chain unreachable) must not keep what is already planned from going out.
      await this.plan().catch((error: unknown) =>
        this.#log?.error({ err: (error as Error).message }, 'settlement planning failed'),
      );
      await this.send().catch((error: unknown) =>
        this.#log?.error({ err: (error as Error).message }, 'settlement sending failed'),
      );
      this.#running = undefined;
    })();
    return this.#running;
  }

  /** Writes outbox rows for totals past their threshold (or any positive amount once an interval passed). */
  async plan(): Promise<number> {
    const now = this.#clock.now();
    const sweepCharges = now - this.#lastChargeSweep >= this.#settings.chargeIntervalMs;
    const sweepPayouts = now - this.#lastPayoutSweep >= this.#settings.payoutIntervalMs;
    const planned = (await this.#planCharges(sweepCharges)) + (await this.#planPayouts(sweepPayouts));
    if (sweepCharges) this.#lastChargeSweep = now;
    if (sweepPayouts) this.#lastPayoutSweep = now;
    return planned;
  }

  async #plannedTotals(kind: Kind): Promise<Map<string, bigint>> {
    const rows = await this.#db
      .selectFrom('proxy_outbox')
      .select(['target', (eb) => eb.fn.max('cumulative').as('planned')])
      .where('kind', '=', kind)
      .groupBy('target')
      .execute();
    return new Map(rows.map((row) => [row.target, BigInt(row.planned)]));
  }

  async #insert(kind: Kind, target: string, cumulative: bigint, payload: z.input<typeof Payload>) {
    const result = await this.#db
      .insertInto('proxy_outbox')
      .values({ kind, target, cumulative, payload: JSON.stringify(payload) })
      .onConflict((c) => c.columns(['kind', 'target', 'cumulative']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n);
  }

  async #planCharges(sweep: boolean): Promise<number> {
    const planned = await this.#plannedTotals('charge');
    const vouchers = await this.#db.selectFrom('proxy_vouchers').selectAll().execute();
    let count = 0;
    for (const voucher of vouchers) {
      const total = BigInt(voucher.total);
      const unsettled = total - (planned.get(voucher.client) ?? 0n);
      if (unsettled <= 0n || (!sweep && unsettled < this.#settings.chargeThreshold)) continue;
      count += await this.#insert('charge', voucher.client, total, {
        contract: voucher.contract,
        queryId: BigInt(voucher.query_id).toString(),
        signature: voucher.signature,
      });
    }
    return count;
  }

  async #planPayouts(sweep: boolean): Promise<number> {
    const workers = await this.#db
      .selectFrom('proxy_worker_totals')
      .select(['payout_address', 'amount'])
      .execute();
    if (workers.length === 0) return 0;
    const rates = await this.#chain.rates();
    const planned = await this.#plannedTotals('payout');
    let count = 0;
    for (const worker of workers) {
      const earned = await this.#accrue(worker.payout_address, BigInt(worker.amount), rates);
      const unpaid = earned - (planned.get(worker.payout_address) ?? 0n);
      if (unpaid <= 0n || (!sweep && unpaid < this.#settings.payoutThreshold)) continue;
      let contract: string;
      try {
        contract = this.#chain.workerContractAddress(worker.payout_address);
      } catch {
        this.#log?.warn(
          { payoutAddress: worker.payout_address },
          'payout address is not a TON address; not paid',
        );
        continue;
      }
      const queryId = BigInt(this.#clock.now());
      const signature = signAmount(
        { op: SignedOp.payout, queryId, total: earned, target: Address.parse(contract) },
        this.#proxySecretKey,
      );
      count += await this.#insert('payout', worker.payout_address, earned, {
        contract,
        queryId: queryId.toString(),
        signature: toHex(signature),
      });
    }
    return count;
  }

  /** Brings a worker's earnings up to its metered amount; a change of rates starts a new segment. */
  async #accrue(
    payoutAddress: string,
    metered: bigint,
    rates: { pricePerToken: bigint; workerFeePerToken: bigint },
  ): Promise<bigint> {
    return withTransaction(this.#db, async (trx) => {
      const row = await trx
        .selectFrom('proxy_worker_earnings')
        .selectAll()
        .where('payout_address', '=', payoutAddress)
        .forUpdate()
        .executeTakeFirst();
      let base = { metered: 0n, earned: 0n };
      if (row !== undefined) {
        const sameRates =
          BigInt(row.price_per_token) === rates.pricePerToken &&
          BigInt(row.worker_fee_per_token) === rates.workerFeePerToken;
        if (sameRates && BigInt(row.metered) === metered) return BigInt(row.earned);
        base = sameRates
          ? { metered: BigInt(row.base_metered), earned: BigInt(row.base_earned) }
          : { metered: BigInt(row.metered), earned: BigInt(row.earned) };
      }
      const earned =
        rates.pricePerToken === 0n
          ? base.earned
          : base.earned + ((metered - base.metered) * rates.workerFeePerToken) / rates.pricePerToken;
      const values = {
        payout_address: payoutAddress,
        metered,
        earned,
        base_metered: base.metered,
        base_earned: base.earned,
        price_per_token: rates.pricePerToken,
        worker_fee_per_token: rates.workerFeePerToken,
      };
      await trx
        .insertInto('proxy_worker_earnings')
        .values(values)
        .onConflict((c) => c.column('payout_address').doUpdateSet(values))
        .execute();
      return earned;
    });
  }

  /** Sends each target's highest unconfirmed total (unless in flight) and confirms what the chain shows. */
  async send(): Promise<{ sent: number; confirmed: number }> {
    const rows = await this.#db
      .selectFrom('proxy_outbox')
      .selectAll()
      .where('status', '<>', 'confirmed')
      .where('kind', 'in', ['charge', 'payout'])
      // charges first: what they bring into the Proxy contract's balance can pay this round's payouts
      .orderBy('kind')
      .orderBy('cumulative', 'desc')
      .execute();
    const latest = new Map<string, OutboxRow>();
    for (const row of rows) {
      const key = `${row.kind}:${row.target}`;
      if (!latest.has(key)) latest.set(key, row as OutboxRow);
    }
    let sent = 0;
    let confirmed = 0;
    for (const row of latest.values()) {
      const result = await this.#settle(row).catch((error: unknown) => {
        this.#log?.warn(
          { kind: row.kind, target: row.target, err: (error as Error).message },
          'settlement failed',
        );
        return { sent: false, confirmed: 0 };
      });
      if (result.sent) sent += 1;
      confirmed += result.confirmed;
    }
    return { sent, confirmed };
  }

  async #settle(row: OutboxRow): Promise<{ sent: boolean; confirmed: number }> {
    const payload = Payload.parse(JSON.parse(row.payload));
    const cumulative = BigInt(row.cumulative);
    const onChain = await this.#onChain(row.kind, row.target, payload.contract);
    let confirmed = await this.#confirmUpTo(row.kind, row.target, onChain.total);
    if (onChain.total >= cumulative) return { sent: false, confirmed };
    if (onChain.available < cumulative - onChain.total) {
      this.#log?.warn(
        {
          kind: row.kind,
          target: row.target,
          owed: cumulative - onChain.total,
          available: onChain.available,
        },
        row.kind === 'charge'
          ? 'the client contract cannot cover its signed total; waiting for a top-up'
          : 'the proxy contract balance cannot cover this payout yet; waiting for charges',
      );
      return { sent: false, confirmed };
    }
    const now = new Date(this.#clock.now());
    if (
      row.status === 'sent' &&
      now.getTime() - (row.sent_at?.getTime() ?? 0) < this.#resendDelay(row.attempts)
    ) {
      return { sent: false, confirmed };
    }
    // Claimed (and persisted as sent) before sending: a crash from here on leads to a resend after the
    // resend delay, which the contract applies at most once. The attempt count makes the claim a
    // compare-and-set, so another proxy on the store that read the same row skips it.
    const claimed = await this.#db
      .updateTable('proxy_outbox')
      .set((eb) => ({ status: 'sent', sent_at: now, attempts: eb('attempts', '+', 1) }))
      .where('id', '=', row.id)
      .where('attempts', '=', row.attempts)
      .where('status', '<>', 'confirmed')
      .executeTakeFirst();
    if ((claimed.numUpdatedRows ?? 0n) === 0n) return { sent: false, confirmed };
    const signed = {
      total: cumulative,
      queryId: BigInt(payload.queryId),
      signature: fromHex(payload.signature),
    };
    if (row.kind === 'charge') await this.#chain.sendCharge(payload.contract, signed);
    else await this.#chain.sendPayout(row.target, signed);
    const sent = {
      kind: row.kind,
      target: row.target,
      total: cumulative.toString(),
      attempt: row.attempts + 1,
    };
    if (row.attempts === 0) this.#log?.info(sent, 'settlement sent');
    // Again: lost on the way, or taken back by a bounce (a closed Proxy contract, a short balance).
    else this.#log?.warn(sent, 'settlement sent again: the chain does not show the previous attempt');
    confirmed += await this.#confirmUpTo(
      row.kind,
      row.target,
      (await this.#onChain(row.kind, row.target, payload.contract)).total,
    );
    return { sent: true, confirmed };
  }

  /** How long a message sent `attempts` times waits before the next attempt: doubling, at most 64 times. */
  #resendDelay(attempts: number): number {
    return this.#settings.resendAfterMs * 2 ** Math.min(Math.max(attempts - 1, 0), 6);
  }

  /** The contract's cumulative total, and what can move (the client's deposit, or the proxy's balance). */
  async #onChain(
    kind: Kind,
    target: string,
    contract: string,
  ): Promise<{ total: bigint; available: bigint }> {
    if (kind === 'charge') {
      const account = await this.#chain.clientAccount(contract);
      return account === undefined
        ? { total: 0n, available: 0n }
        : { total: account.chargedTotal, available: account.balance + account.stake };
    }
    const [total, available] = await Promise.all([
      this.#chain.workerPaidTotal(target),
      this.#chain.proxyBalance(),
    ]);
    return { total, available };
  }

  /**
   * Confirms the target's rows the chain's total covers, once their message is past the bounce window: a
   * Charge or Payout that the Proxy contract refuses shows on the chain until its bounce lands and the
   * contract takes the total back. Until then a row stays sent, and is sent again if the total goes.
   */
  async #confirmUpTo(kind: Kind, target: string, onChainTotal: bigint): Promise<number> {
    const now = this.#clock.now();
    const result = await this.#db
      .updateTable('proxy_outbox')
      .set({ status: 'confirmed', confirmed_at: new Date(now) })
      .where('kind', '=', kind)
      .where('target', '=', target)
      .where('status', '<>', 'confirmed')
      .where('cumulative', '<=', onChainTotal)
      .where((eb) =>
        eb.or([
          eb('sent_at', 'is', null),
          eb('sent_at', '<=', new Date(now - this.#settings.bounceWindowMs)),
        ]),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows ?? 0n);
  }

  async summary(): Promise<SettlementSummary> {
    const sumColumn = async (table: 'proxy_client_totals' | 'proxy_vouchers' | 'proxy_worker_earnings') => {
      const column =
        table === 'proxy_client_totals' ? 'amount' : table === 'proxy_vouchers' ? 'total' : 'earned';
      const row = await this.#db
        .selectFrom(table)
        .select(sql<bigint | null>`sum(${sql.ref(column)})`.as('sum'))
        .executeTakeFirst();
      return row?.sum === null || row?.sum === undefined ? 0n : BigInt(row.sum);
    };
    const confirmed = async (kind: Kind) => {
      const rows = await this.#db
        .selectFrom('proxy_outbox')
        .select(['target', (eb) => eb.fn.max('cumulative').as('total')])
        .where('kind', '=', kind)
        .where('status', '=', 'confirmed')
        .groupBy('target')
        .execute();
      return sumOf(rows.map((row) => BigInt(row.total)));
    };
    const [metered, signed, earned, charged, paid, unconfirmed] = await Promise.all([
      sumColumn('proxy_client_totals'),
      sumColumn('proxy_vouchers'),
      sumColumn('proxy_worker_earnings'),
      confirmed('charge'),
      confirmed('payout'),
      this.#db
        .selectFrom('proxy_outbox')
        .select((eb) => eb.fn.countAll<bigint>().as('count'))
        .where('status', '<>', 'confirmed')
        .executeTakeFirstOrThrow(),
    ]);
    return {
      metered,
      signed,
      charged,
      earned,
      paid,
      commission: charged - paid,
      commissionAccrued: metered - earned,
      unconfirmed: Number(unconfirmed.count),
    };
  }
}

type OutboxRow = Selectable<OutboxTable> & { kind: Kind };
