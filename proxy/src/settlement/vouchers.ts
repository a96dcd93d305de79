import type { Clock } from '@cocoon/shared';
import { type VoucherMessage, type VoucherReply, verifyVoucher } from '@cocoon/shared/client/voucher';
import { withTransaction } from '@cocoon/shared/store/index';
import type { Kysely } from 'kysely';
import type { ProxyDb, VouchersTable } from '../db.js';
import type { SettlementChain } from './port.js';

export type VoucherRefusal = 'wrong_contract' | 'bad_signature' | 'lower_total' | 'over_metered';

export class VoucherRefused extends Error {
  override readonly name = 'VoucherRefused';
  constructor(
    readonly code: VoucherRefusal,
    message: string,
  ) {
    super(`voucher refused (${code}): ${message}`);
  }
}

export interface StoredVoucher {
  client: string;
  contract: string;
  owner: string;
  total: bigint;
  queryId: bigint;
  signature: string;
  updatedAt: Date;
}

const stored = (row: VouchersTable): StoredVoucher => ({
  client: row.client,
  contract: row.contract,
  owner: row.owner,
  total: BigInt(row.total),
  queryId: BigInt(row.query_id),
  signature: row.signature,
  updatedAt: row.updated_at,
});

/**
 * The latest voucher of each client. A voucher is kept only if the client key signed it for its own
 * Client contract at this proxy, its total does not go back, and it covers no more than the receipts the
 * proxy metered for the client (a client cannot pre-pay by signature; its deposit is on-chain).
 */
export class VoucherBook {
  constructor(
    private readonly db: Kysely<ProxyDb>,
    private readonly chain: Pick<SettlementChain, 'clientContractAddress'>,
    private readonly clock: Clock,
  ) {}

  async accept(client: string, voucher: VoucherMessage): Promise<VoucherReply> {
    const expected = this.chain.clientContractAddress(voucher.owner, client);
    if (voucher.contract !== expected) {
      throw new VoucherRefused(
        'wrong_contract',
        `${voucher.contract} is not the Client contract of this client key and owner at this proxy (${expected})`,
      );
    }
    if (!verifyVoucher(voucher, client)) {
      throw new VoucherRefused(
        'bad_signature',
        'the signature is not the client key’s on this total and contract',
      );
    }
    return withTransaction(this.db, async (trx) => {
      const metered = await trx
        .selectFrom('proxy_client_totals')
        .select('amount')
        .where('client', '=', client)
        .forUpdate()
        .executeTakeFirst();
      const meteredAmount = metered === undefined ? 0n : BigInt(metered.amount);
      const previous = await trx
        .selectFrom('proxy_vouchers')
        .selectAll()
        .where('client', '=', client)
        .forUpdate()
        .executeTakeFirst();
      if (previous !== undefined && previous.contract !== voucher.contract) {
        throw new VoucherRefused(
          'wrong_contract',
          `this client pays from contract ${previous.contract} at this proxy, not ${voucher.contract}`,
        );
      }
      const previousTotal = previous === undefined ? 0n : BigInt(previous.total);
      if (voucher.total < previousTotal) {
        throw new VoucherRefused(
          'lower_total',
          `total ${voucher.total} is below the ${previousTotal} already signed`,
        );
      }
      if (voucher.total > meteredAmount) {
        throw new VoucherRefused(
          'over_metered',
          `total ${voucher.total} exceeds the ${meteredAmount} nanotons metered for this client`,
        );
      }
      if (previous === undefined || voucher.total > previousTotal) {
        const row = {
          client,
          contract: voucher.contract,
          owner: voucher.owner,
          total: voucher.total,
          query_id: voucher.queryId,
          signature: voucher.signature,
          updated_at: new Date(this.clock.now()),
        };
        await trx
          .insertInto('proxy_vouchers')
          .values(row)
          .onConflict((c) => c.column('client').doUpdateSet(row))
          .execute();
      }
      return { total: voucher.total, metered: meteredAmount };
    });
  }

  async latest(client: string): Promise<StoredVoucher | undefined> {
    const row = await this.db
      .selectFrom('proxy_vouchers')
      .selectAll()
      .where('client', '=', client)
      .executeTakeFirst();
    return row === undefined ? undefined : stored(row);
  }
}
