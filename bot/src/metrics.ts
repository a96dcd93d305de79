import { sameSecret } from '@cocoon/shared/same-secret';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { classifyAddress } from './links/address-policy.js';

/** Why the bot or the Mini App server refused something a client, a chat or the chain watcher sent. */
export const REFUSAL_REASONS = [
  'init_data_missing',
  'init_data_invalid',
  'init_data_expired',
  'rate_limited',
  'too_large',
  'bad_request',
  'top_up_duplicate',
  'top_up_forged',
  'webhook_bad_secret',
  'payment_forged',
  'payment_duplicate',
  'pre_checkout_refused',
  'ssrf_refused',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export type CreditCurrency = 'stars' | 'ton';
export type SummaryOutcome = 'done' | 'no_credit' | 'busy' | 'unavailable' | 'cancelled' | 'failed';

/** Summaries running on the network and waiting for a turn (the network summarizer's queue). */
export type SummaryQueue = () => { active: number; pending: number };

/**
 * Prometheus metrics of the Telegram side (bot and Mini App server), in their own registry: several apps can
 * live in one process in tests, beside the proxy's.
 */
export class TelegramMetrics {
  readonly registry = new Registry();

  readonly refusals = new Counter({
    name: 'cocoon_bot_refusals_total',
    help: `Requests, updates and top-ups refused, by reason: ${REFUSAL_REASONS.join(', ')}`,
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly credits = new Counter({
    name: 'cocoon_bot_credits_total',
    help: 'Top-ups credited to users, by currency: stars or ton',
    labelNames: ['currency'] as const,
    registers: [this.registry],
  });
  readonly creditedNanotons = new Counter({
    name: 'cocoon_bot_credited_nanotons_total',
    help: 'Sum of credited top-ups in nanotons, by currency: stars or ton',
    labelNames: ['currency'] as const,
    registers: [this.registry],
  });
  readonly summaries = new Counter({
    name: 'cocoon_bot_summaries_total',
    help: 'Summaries asked of the network, by outcome: done, no_credit, busy, unavailable, cancelled, failed',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor(sources: { summaryQueue?: SummaryQueue } = {}) {
    const { registry } = this;
    collectDefaultMetrics({ register: registry, prefix: 'cocoon_bot_' });
    // Every reason from the start, so a rate over a reason that never happened reads 0 rather than nothing.
    for (const reason of REFUSAL_REASONS) this.refusals.inc({ reason }, 0);
    if (sources.summaryQueue !== undefined) {
      const queue = sources.summaryQueue;
      new Gauge({
        name: 'cocoon_bot_summary_queue',
        help: 'Summaries on the network now, by state: active or pending (waiting for a turn)',
        labelNames: ['state'] as const,
        registers: [registry],
        collect() {
          const { active, pending } = queue();
          this.set({ state: 'active' }, active);
          this.set({ state: 'pending' }, pending);
        },
      });
    }
  }

  refuse(reason: RefusalReason): void {
    this.refusals.inc({ reason });
  }

  /** A top-up the ledger saw: credited when new, a refused duplicate when its id was credited already. */
  credit(currency: CreditCurrency, nanotons: bigint, added: boolean): void {
    if (!added) {
      this.refuse(currency === 'ton' ? 'top_up_duplicate' : 'payment_duplicate');
      return;
    }
    this.credits.inc({ currency });
    this.creditedNanotons.inc({ currency }, Number(nanotons));
  }

  summary(outcome: SummaryOutcome): void {
    this.summaries.inc({ outcome });
  }
}

/**
 * Whether a request may read the metrics: with the bearer token when one is set, or straight from this host
 * (a loopback peer and no forwarding header, since a reverse proxy on this host makes every client look local).
 */
export function mayReadMetrics(
  request: { remoteAddress: string | undefined; headers: Record<string, string | string[] | undefined> },
  token: string | undefined,
): boolean {
  const authorization = request.headers.authorization;
  if (token !== undefined && typeof authorization === 'string' && authorization.startsWith('Bearer ')) {
    return sameSecret(authorization.slice('Bearer '.length), token);
  }
  const forwarded = ['forwarded', 'x-forwarded-for', 'x-real-ip'].some(
    (name) => request.headers[name] !== undefined,
  );
  return (
    !forwarded && request.remoteAddress !== undefined && classifyAddress(request.remoteAddress) === 'loopback'
  );
}
