import { type Clock, minAmount } from '@cocoon/shared';
import type { Kysely } from 'kysely';
import type { ClientAllowance } from '../credit.js';
import type { ProxyDb } from '../db.js';
import type { ClientAccount, SettlementChain } from './port.js';
import type { SettlementSettings } from './settings.js';

/** Bounds the voucher cache: past it, it starts over (a read per client, no harm). */
const MAX_CACHED_VOUCHERS = 100_000;

/**
 * The most a client's metered total may reach, in cumulative terms (what `CreditSource` compares with
 * charged + reserved):
 *
 *   min( chargedTotal + balance + stake   — what its Client contract can ever pay (charges leave it unchanged),
 *        signed + creditWindow )          — the unsigned work the proxy risks
 *
 * A client that has sent no voucher has no known contract and gets nothing; one whose contract is closing
 * gets no window (only what it signed). So a client that stops signing is cut off after `creditWindow`.
 * The Client contract lets its owner withdraw the balance at any time: what was signed but not yet charged
 * is at risk until the outbox charges it (bounded by the charge threshold and interval), the stake is not.
 */
export class ChainAllowance implements ClientAllowance {
  readonly #cache = new Map<string, { at: number; account: ClientAccount | undefined }>();
  /** Vouchers found; a client without one is looked up again at once when it has sent its first. */
  readonly #vouchers = new Map<string, { at: number; contract: string; total: bigint }>();

  constructor(
    private readonly db: Kysely<ProxyDb>,
    private readonly chain: Pick<SettlementChain, 'clientAccount'>,
    private readonly settings: Pick<SettlementSettings, 'creditWindow' | 'depositCacheMs' | 'voucherCacheMs'>,
    private readonly clock: Clock,
  ) {}

  async allowance(client: string): Promise<bigint> {
    const voucher = await this.#voucher(client);
    if (voucher === undefined) return 0n;
    const account = await this.#account(voucher.contract);
    if (account === undefined) return 0n;
    const deposit = account.chargedTotal + account.balance + account.stake;
    const window = account.closing ? 0n : this.settings.creditWindow;
    return minAmount(deposit, voucher.total + window);
  }

  /** Forgets a cached deposit (after a top-up is seen, or a charge). */
  forget(contract: string): void {
    this.#cache.delete(contract);
  }

  async #voucher(client: string): Promise<{ contract: string; total: bigint } | undefined> {
    const now = this.clock.now();
    const cached = this.#vouchers.get(client);
    if (cached !== undefined && now - cached.at < this.settings.voucherCacheMs) return cached;
    const row = await this.db
      .selectFrom('proxy_vouchers')
      .select(['contract', 'total'])
      .where('client', '=', client)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    if (this.#vouchers.size >= MAX_CACHED_VOUCHERS) this.#vouchers.clear();
    const voucher = { at: now, contract: row.contract, total: BigInt(row.total) };
    this.#vouchers.set(client, voucher);
    return voucher;
  }

  async #account(contract: string): Promise<ClientAccount | undefined> {
    const now = this.clock.now();
    const cached = this.#cache.get(contract);
    if (cached !== undefined && now - cached.at < this.settings.depositCacheMs) return cached.account;
    const account = await this.chain.clientAccount(contract);
    this.#cache.set(contract, { at: now, account });
    return account;
  }
}
