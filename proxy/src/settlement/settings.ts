import { z } from 'zod';

const TON = 1_000_000_000n;
const nanotons = z.bigint().nonnegative();
const ms = z.number().int().positive();

/**
 * When money moves. Charges and payouts go out once the unsettled amount reaches its threshold, and at
 * least every interval whatever the amount; a client may run at most `creditWindow` beyond its last
 * signed total.
 */
export const SettlementSettings = z.object({
  /** Charge a client once its signed total is this far ahead of what the chain charged (design: 1 TON). */
  chargeThreshold: nanotons.default(TON),
  /** Pay a worker once its earnings are this far ahead of what its contract paid (design: 10 TON). */
  payoutThreshold: nanotons.default(10n * TON),
  /** Every unsettled signed total is charged at least this often. */
  chargeIntervalMs: ms.default(60 * 60_000),
  /** Every unpaid earning is paid at least this often. */
  payoutIntervalMs: ms.default(24 * 60 * 60_000),
  /** Metered work a client may run beyond the last total it signed (must exceed a job's max cost). */
  creditWindow: nanotons.default(TON / 10n),
  /** How long an on-chain deposit read is reused for credit checks. */
  depositCacheMs: ms.default(5_000),
  /**
   * How long a client's latest voucher is reused for credit checks (a read per job otherwise). A total only
   * grows, so a reused one can only make the allowance smaller, never larger; the credit window covers
   * what a client signs meanwhile. 0: read on every job.
   */
  voucherCacheMs: z.number().int().nonnegative().default(1_000),
  /** How often the outbox plans and sends. */
  tickMs: ms.default(5_000),
  /**
   * How often the proxy records its settlement state hash on its Proxy contract (design: every 30–60 s), so
   * a restart on a rolled-back database is refused. Each record costs one owner message's fees.
   */
  stateIntervalMs: ms.default(60_000),
  /**
   * A sent message the chain has not confirmed after this long is sent again (the same total); each
   * further attempt waits twice as long as the one before, up to 64 times this.
   */
  resendAfterMs: ms.default(60_000),
  /**
   * How long after sending a total the chain must still show it to count as confirmed. A Charge or Payout
   * that the Proxy contract refuses bounces back a few blocks later and its contract takes the total back;
   * the outbox then sends it again, so a bounce delays money but never drops it.
   */
  bounceWindowMs: z
    .number()
    .int()
    .nonnegative()
    .default(2 * 60_000),
});
export type SettlementSettings = z.output<typeof SettlementSettings>;
