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

/** Per client, the credit all proxies' leases hold together (the sum of its rows in proxy_credit_leases). */
export interface CreditTable {
  client: string;
  held: Money;
}

/**
 * Credit a proxy holds for a client's jobs (StoreCredit): its jobs reserve from it in the proxy's memory.
 * One row per (client, holder); a holder that stops renewing its leases has died, and they are released.
 */
export interface CreditLeasesTable {
  client: string;
  /** The proxy process holding the lease (random per StoreCredit). */
  holder: string;
  amount: Money;
  renewed_at: Date;
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
  proxy_credit_leases: CreditLeasesTable;
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
      // Its functions are defined by 0005, which replaces them (a database that ran this step had the
      // per-job reservation versions; one that did not gets the current ones from 0005 directly).
      async up() {},
    },
    '0005_credit_leases': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('proxy_credit_leases')
          .addColumn('client', 'text', (c) => c.notNull())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('amount', money, (c) => c.notNull().check(sql`amount > 0`))
          .addColumn('renewed_at', 'timestamptz', (c) => c.notNull())
          .addPrimaryKeyConstraint('proxy_credit_leases_pk', ['client', 'holder'])
          .execute();
        await db.schema
          .createIndex('proxy_credit_leases_renewed')
          .on('proxy_credit_leases')
          .column('renewed_at')
          .execute();
        // The reservations of a proxy that ran before leases: one lease per client under a holder that
        // never renews, so the periodic release frees them once no such job can still be running.
        await sql`
          insert into proxy_credit_leases (client, holder, amount, renewed_at)
          select client, 'reservations-before-leases', sum(amount), max(created_at)
          from proxy_reservations group by client having sum(amount) > 0`.execute(db);
        await sql`drop function if exists proxy_reserve(text[], text[], numeric[], numeric[])`.execute(db);
        await sql`drop function if exists proxy_settle(text[], numeric[])`.execute(db);
        await db.schema.dropTable('proxy_reservations').execute();
        // What receipts charged is the client's receipt total (proxy_client_totals.amount).
        await db.schema.alterTable('proxy_credit').dropColumn('charged').execute();
        await db.schema.alterTable('proxy_credit').renameColumn('reserved', 'held').execute();
        await sql`
          update proxy_credit set held = coalesce(
            (select sum(amount) from proxy_credit_leases as lease where lease.client = proxy_credit.client), 0)`.execute(
          db,
        );
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
 * The per-job statements as PL/pgSQL functions: a function keeps its statements' plans for the session, where
 * a statement sent as text is planned on every call (about 1-2 ms of CPU for these CTEs on PGlite, more than
 * the rows of a whole batch cost).
 * - proxy_record_receipts: new receipts, then each touched total once, from the rows really inserted (a
 *   receipt already stored adds nothing). Returns the ids inserted. It touches no credit row, so it never
 *   waits for a lease.
 * - proxy_lease: per client of one holder (sorted by client), gives back `returns` of its lease, then, when
 *   `wants` > 0, adds to it up to `wants` of what allowance − charged (the client's receipt total) − held
 *   leaves, or nothing if that is less than `needs`; with `renew`, marks every lease of the holder as alive.
 *   Returns each client's lease as now stored (0 when its row is gone: released as stale, or given back).
 * - proxy_release_stale_leases: releases the leases not renewed since `stale_before` (their proxy died).
 * Every statement locks a client's proxy_credit row before its lease rows, clients in key order, so proxies
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
    returning id, client, payout_address, prompt_tokens, completion_tokens, amount
  ), by_client as (
    ${addToTotals('proxy_client_totals', 'client')}
  ), by_worker as (
    ${addToTotals('proxy_worker_totals', 'payout_address')}
  )
  select inserted.id from inserted;
end $$`,
  `create or replace function proxy_lease(
  in_holder text, in_clients text[], in_returns numeric[], in_needs numeric[], in_wants numeric[],
  in_allowances numeric[], in_renew boolean
) returns table (client text, leased numeric) language plpgsql as $$
#variable_conflict use_column
declare
  v_held numeric;
  v_leased numeric;
  v_free numeric;
  v_grant numeric;
begin
  for i in 1 .. coalesce(array_length(in_clients, 1), 0) loop
    insert into proxy_credit as credit (client, held) values (in_clients[i], 0) on conflict do nothing;
    select credit.held into v_held from proxy_credit as credit where credit.client = in_clients[i] for update;
    select lease.amount into v_leased from proxy_credit_leases as lease
    where lease.client = in_clients[i] and lease.holder = in_holder for update;
    v_leased := coalesce(v_leased, 0);
    -- never more than the lease holds: a lease released as stale gives nothing back twice
    v_grant := -least(in_returns[i], v_leased);
    if in_wants[i] > 0 then
      select in_allowances[i] - coalesce(max(total.amount), 0) - (v_held + v_grant) into v_free
      from proxy_client_totals as total where total.client = in_clients[i];
      if least(in_wants[i], v_free) >= greatest(in_needs[i], 1) then
        v_grant := v_grant + least(in_wants[i], v_free);
      end if;
    end if;
    v_leased := v_leased + v_grant;
    update proxy_credit as credit set held = credit.held + v_grant where credit.client = in_clients[i];
    if v_leased > 0 then
      insert into proxy_credit_leases as lease (client, holder, amount, renewed_at)
      values (in_clients[i], in_holder, v_leased, now())
      on conflict (client, holder) do update set amount = excluded.amount, renewed_at = excluded.renewed_at;
    else
      delete from proxy_credit_leases as lease where lease.client = in_clients[i] and lease.holder = in_holder;
    end if;
    client := in_clients[i];
    leased := v_leased;
    return next;
  end loop;
  if in_renew then
    update proxy_credit_leases as lease set renewed_at = now()
    where lease.holder = in_holder and lease.renewed_at < now();
  end if;
end $$`,
  `create or replace function proxy_release_stale_leases(stale_before timestamptz) returns integer
language plpgsql as $$
declare
  v_client text;
  v_released numeric;
  v_count integer := 0;
  v_leases integer;
begin
  for v_client in
    select distinct lease.client from proxy_credit_leases as lease
    where lease.renewed_at < stale_before order by lease.client
  loop
    perform 1 from proxy_credit as credit where credit.client = v_client for update;
    with released as (
      delete from proxy_credit_leases as lease
      where lease.client = v_client and lease.renewed_at < stale_before
      returning lease.amount
    )
    select coalesce(sum(amount), 0), count(*) into v_released, v_leases from released;
    update proxy_credit as credit set held = credit.held - v_released where credit.client = v_client;
    v_count := v_count + v_leases;
  end loop;
  return v_count;
end $$`,
];
