// Node-only by nature: the proxy's tables in the shared SQL store.
import type { MigrationSet } from '@cocoon/shared/store/index';
import { type ColumnType, type Generated, type Kysely, sql } from 'kysely';

/** Money columns are numeric(40,0): nanotons as bigint in code (the store's parsers), never a float. */
type Money = bigint;

export interface ReceiptsTable {
  /** Hex cell hash of the receipt (`receiptId`). */
  id: string;
  job_id: string;
  client: string;
  /** The worker's receipt-signing key (changes on rotation). */
  worker_key: string;
  /** The worker's stable identity for payouts. */
  payout_address: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  price_per_token: Money;
  amount: Money;
  receipt_time: number;
  /** The signed receipt as the worker sent it, so clients can fetch it again and contracts can check it. */
  boc: string;
  signature: string;
  recorded_at: ColumnType<Date, never, never>;
}

/** Cumulative totals from receipts: what the proxy will charge a client and pay a worker. */
export interface TotalsColumns {
  jobs: bigint;
  prompt_tokens: bigint;
  completion_tokens: bigint;
  amount: Money;
}
export interface ClientTotalsTable extends TotalsColumns {
  client: string;
}
export interface WorkerTotalsTable extends TotalsColumns {
  payout_address: string;
}

/** Credit per client: what receipts charged and what open jobs hold. */
export interface CreditTable {
  client: string;
  charged: Money;
  reserved: Money;
}

/** One row per job holding credit; deleting it releases the credit (once). */
export interface ReservationsTable {
  job_id: string;
  client: string;
  amount: Money;
  created_at: ColumnType<Date, never, never>;
}

/**
 * Settlement outbox (designed now, written by the settlement issue): on-chain messages to send, each a
 * cumulative total for one contract, so a message sent twice applies once. Unique per (kind, target,
 * cumulative); a row is retried until the chain confirms it.
 */
export interface OutboxTable {
  id: Generated<bigint>;
  kind: 'charge' | 'payout' | 'state_hash';
  /** Client account, worker payout address, or the proxy contract for state hashes. */
  target: string;
  cumulative: Money;
  /** BOC of the signed message body. */
  payload: string;
  status: Generated<'pending' | 'sent' | 'confirmed'>;
  attempts: Generated<number>;
  created_at: ColumnType<Date, never, never>;
  sent_at: Date | null;
  confirmed_at: Date | null;
  tx_hash: string | null;
}

/** The latest voucher per client: the cumulative total the client signed for its Client contract. */
export interface VouchersTable {
  /** The client account (Ed25519 public key, hex): the signer. */
  client: string;
  /** The Client contract (raw address) the total is for. */
  contract: string;
  owner: string;
  total: Money;
  query_id: bigint;
  signature: string;
  updated_at: Date;
}

/**
 * A worker's share of what its receipts metered, accrued at the Root's rates: since the last rate change
 * (`base_*`), earned = base_earned + (metered − base_metered) × fee / price, rounded down.
 */
export interface WorkerEarningsTable {
  payout_address: string;
  metered: Money;
  earned: Money;
  base_metered: Money;
  base_earned: Money;
  price_per_token: Money;
  worker_fee_per_token: Money;
}

/**
 * The settlement state hashes this proxy computed, each written before it is sent to the Proxy contract:
 * the chain's latest record must be one of them, or the database was rolled back (see state-anchor.ts).
 */
export interface StateRecordsTable {
  seqno: bigint;
  /** SHA-256, lowercase hex. */
  state_hash: string;
  recorded_at: ColumnType<Date, never, never>;
}

export interface ProxyDb {
  proxy_receipts: ReceiptsTable;
  proxy_vouchers: VouchersTable;
  proxy_worker_earnings: WorkerEarningsTable;
  proxy_client_totals: ClientTotalsTable;
  proxy_worker_totals: WorkerTotalsTable;
  proxy_credit: CreditTable;
  proxy_reservations: ReservationsTable;
  proxy_outbox: OutboxTable;
  proxy_state_records: StateRecordsTable;
}

const money = sql`numeric(40,0)`;

export const proxyMigrations: MigrationSet = {
  name: 'proxy',
  migrations: {
    '0001_metering': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('proxy_receipts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('job_id', 'text', (c) => c.notNull().unique())
          .addColumn('client', 'text', (c) => c.notNull())
          .addColumn('worker_key', 'text', (c) => c.notNull())
          .addColumn('payout_address', 'text', (c) => c.notNull())
          .addColumn('model', 'text', (c) => c.notNull())
          .addColumn('prompt_tokens', 'integer', (c) => c.notNull())
          .addColumn('completion_tokens', 'integer', (c) => c.notNull())
          .addColumn('price_per_token', money, (c) => c.notNull())
          .addColumn('amount', money, (c) => c.notNull())
          .addColumn('receipt_time', 'integer', (c) => c.notNull())
          .addColumn('boc', 'text', (c) => c.notNull())
          .addColumn('signature', 'text', (c) => c.notNull())
          .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
          .execute();
        await db.schema.createIndex('proxy_receipts_client').on('proxy_receipts').column('client').execute();
        for (const [table, key] of [
          ['proxy_client_totals', 'client'],
          ['proxy_worker_totals', 'payout_address'],
        ] as const) {
          await db.schema
            .createTable(table)
            .addColumn(key, 'text', (c) => c.primaryKey())
            .addColumn('jobs', 'bigint', (c) => c.notNull())
            .addColumn('prompt_tokens', 'bigint', (c) => c.notNull())
            .addColumn('completion_tokens', 'bigint', (c) => c.notNull())
            .addColumn('amount', money, (c) => c.notNull())
            .execute();
        }
        await db.schema
          .createTable('proxy_credit')
          .addColumn('client', 'text', (c) => c.primaryKey())
          .addColumn('charged', money, (c) => c.notNull())
          .addColumn('reserved', money, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('proxy_reservations')
          .addColumn('job_id', 'text', (c) => c.primaryKey())
          .addColumn('client', 'text', (c) => c.notNull())
          .addColumn('amount', money, (c) => c.notNull())
          .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
          .execute();
        await db.schema
          .createTable('proxy_outbox')
          .addColumn('id', 'bigserial', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) =>
            c.notNull().check(sql`kind in ('charge', 'payout', 'state_hash')`),
          )
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('cumulative', money, (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) =>
            c.notNull().defaultTo('pending').check(sql`status in ('pending', 'sent', 'confirmed')`),
          )
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
          .addColumn('sent_at', 'timestamptz')
          .addColumn('confirmed_at', 'timestamptz')
          .addColumn('tx_hash', 'text')
          .addUniqueConstraint('proxy_outbox_once', ['kind', 'target', 'cumulative'])
          .execute();
        await db.schema
          .createIndex('proxy_outbox_pending')
          .on('proxy_outbox')
          .column('created_at')
          .where(sql.ref('status'), '<>', 'confirmed')
          .execute();
      },
    },
    '0002_settlement': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('proxy_vouchers')
          .addColumn('client', 'text', (c) => c.primaryKey())
          .addColumn('contract', 'text', (c) => c.notNull().unique())
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('total', money, (c) => c.notNull())
          .addColumn('query_id', sql`numeric(20,0)`, (c) => c.notNull())
          .addColumn('signature', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('proxy_worker_earnings')
          .addColumn('payout_address', 'text', (c) => c.primaryKey())
          .addColumn('metered', money, (c) => c.notNull())
          .addColumn('earned', money, (c) => c.notNull())
          .addColumn('base_metered', money, (c) => c.notNull())
          .addColumn('base_earned', money, (c) => c.notNull())
          .addColumn('price_per_token', money, (c) => c.notNull())
          .addColumn('worker_fee_per_token', money, (c) => c.notNull())
          .execute();
      },
    },
    '0003_state_records': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('proxy_state_records')
          .addColumn('seqno', 'bigint', (c) => c.primaryKey().check(sql`seqno > 0`))
          .addColumn('state_hash', 'text', (c) => c.notNull())
          .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
          .execute();
      },
    },
    '0004_hot_path_functions': {
      // The per-job statements as PL/pgSQL functions: a function keeps its statements' plans for the session,
      // where a statement sent as text is planned on every call (about 1-2 ms of CPU for these CTEs on
      // PGlite, more than the rows of a whole batch cost).
      async up(db: Kysely<unknown>) {
        for (const definition of HOT_PATH_FUNCTIONS) await sql.raw(definition).execute(db);
      },
    },
  },
};

/** Adds the sums of the receipts inserted (CTE `inserted`) to their rows of a totals table, in key order. */
const addToTotals = (table: string, key: string) => `
    insert into ${table} as total (${key}, jobs, prompt_tokens, completion_tokens, amount)
    select inserted.${key}, count(*), sum(inserted.prompt_tokens), sum(inserted.completion_tokens),
      sum(inserted.amount)
    from inserted group by inserted.${key} order by inserted.${key}
    on conflict (${key}) do update set ${['jobs', 'prompt_tokens', 'completion_tokens', 'amount']
      .map((column) => `${column} = total.${column} + excluded.${column}`)
      .join(', ')}`;

/**
 * - proxy_record_receipts: new receipts, then each touched total once, from the rows really inserted (a
 *   receipt already stored adds nothing); a new receipt also ends its job's reservation (StoreCredit),
 *   charging the receipt's amount, so a recorded receipt never leaves credit reserved. Returns the ids
 *   inserted.
 * - proxy_reserve: per job in order, takes the credit if allowance − charged − reserved covers it, then
 *   holds it under the job id; returns 'reserved', 'insufficient' or 'duplicate' (a job id already held:
 *   the credit just taken is given back). Callers sort a batch by client.
 * - proxy_settle: ends reservations, charging what was spent (at most what was reserved); a reservation
 *   already gone changes nothing.
 * Client rows are locked in key order everywhere (the credit row before the job's reservation), so proxies
 * sharing a Postgres cannot deadlock on them.
 */
const HOT_PATH_FUNCTIONS = [
  `create or replace function proxy_record_receipts(
  in_ids text[], in_job_ids text[], in_clients text[], in_worker_keys text[], in_payout_addresses text[],
  in_models text[], in_prompt_tokens integer[], in_completion_tokens integer[], in_prices numeric[],
  in_amounts numeric[], in_times integer[], in_bocs text[], in_signatures text[]
) returns setof text language plpgsql as $$
begin
  return query
  with inserted as (
    insert into proxy_receipts (id, job_id, client, worker_key, payout_address, model, prompt_tokens,
      completion_tokens, price_per_token, amount, receipt_time, boc, signature)
    select * from unnest(in_ids, in_job_ids, in_clients, in_worker_keys, in_payout_addresses, in_models,
      in_prompt_tokens, in_completion_tokens, in_prices, in_amounts, in_times, in_bocs, in_signatures)
    on conflict do nothing
    returning id, job_id, client, payout_address, prompt_tokens, completion_tokens, amount
  ), settled as (
    delete from proxy_reservations as reservation using inserted
    where reservation.job_id = inserted.job_id
    returning reservation.client, reservation.amount, least(reservation.amount, inserted.amount) as charged
  ), credit as (
    insert into proxy_credit as credit (client, charged, reserved)
    select settled.client, sum(settled.charged), -sum(settled.amount) from settled
    group by settled.client order by settled.client
    on conflict (client) do update
    set charged = credit.charged + excluded.charged, reserved = credit.reserved + excluded.reserved
  ), by_client as (
    ${addToTotals('proxy_client_totals', 'client')}
  ), by_worker as (
    ${addToTotals('proxy_worker_totals', 'payout_address')}
  )
  select inserted.id from inserted;
end $$`,
  `create or replace function proxy_reserve(
  in_job_ids text[], in_clients text[], in_amounts numeric[], in_allowances numeric[]
) returns setof text language plpgsql as $$
begin
  for i in 1 .. coalesce(array_length(in_job_ids, 1), 0) loop
    insert into proxy_credit as credit (client, charged, reserved)
    select in_clients[i], 0, in_amounts[i] where in_allowances[i] >= in_amounts[i]
    on conflict (client) do update set reserved = credit.reserved + excluded.reserved
    where in_allowances[i] - credit.charged - credit.reserved >= excluded.reserved;
    if not found then
      return next 'insufficient';
      continue;
    end if;
    insert into proxy_reservations (job_id, client, amount)
    values (in_job_ids[i], in_clients[i], in_amounts[i])
    on conflict do nothing;
    if found then
      return next 'reserved';
    else
      update proxy_credit set reserved = reserved - in_amounts[i] where client = in_clients[i];
      return next 'duplicate';
    end if;
  end loop;
end $$`,
  `create or replace function proxy_settle(in_job_ids text[], in_spent numeric[]) returns void
language plpgsql as $$
begin
  with ended as (
    delete from proxy_reservations as reservation
    using unnest(in_job_ids, in_spent) as input(job_id, spent)
    where reservation.job_id = input.job_id
    returning reservation.client, reservation.amount, least(reservation.amount, input.spent) as charged
  )
  insert into proxy_credit as credit (client, charged, reserved)
  select ended.client, sum(ended.charged), -sum(ended.amount) from ended
  group by ended.client order by ended.client
  on conflict (client) do update
  set charged = credit.charged + excluded.charged, reserved = credit.reserved + excluded.reserved;
end $$`,
];
