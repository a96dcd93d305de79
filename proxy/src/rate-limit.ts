import type { Clock } from '@cocoon/shared';

export interface RateLimitOptions {
  /** Sustained jobs per second per client. */
  perSecond: number;
  /** Jobs a client may start at once after being idle. */
  burst: number;
}

/** Entries beyond this many idle clients are pruned, so unknown clients cannot grow the map without bound. */
const PRUNE_ABOVE = 10_000;

/** A token bucket per client. */
export class ClientRateLimiter {
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly options: RateLimitOptions,
  ) {}

  /** Takes one token; returns 0 when allowed, else the seconds until a token is available. */
  take(client: string): number {
    const now = this.clock.now();
    const bucket = this.#buckets.get(client) ?? { tokens: this.options.burst, atMs: now };
    const tokens = Math.min(
      this.options.burst,
      bucket.tokens + ((now - bucket.atMs) / 1000) * this.options.perSecond,
    );
    if (tokens < 1) {
      this.#buckets.set(client, { tokens, atMs: now });
      return Math.max(1, Math.ceil((1 - tokens) / this.options.perSecond));
    }
    if (!this.#buckets.has(client) && this.#buckets.size >= PRUNE_ABOVE) this.#prune(now);
    this.#buckets.set(client, { tokens: tokens - 1, atMs: now });
    return 0;
  }

  /** Drops buckets that have refilled completely: forgetting them changes nothing. */
  #prune(now: number): void {
    const refillMs = (this.options.burst / this.options.perSecond) * 1000;
    for (const [client, bucket] of this.#buckets) {
      if (now - bucket.atMs >= refillMs) this.#buckets.delete(client);
    }
  }
}
