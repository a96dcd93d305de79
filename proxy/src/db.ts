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
  },
};
