import type { IncomingMessage } from 'node:http';
import type { Clock } from '@cocoon/shared';
import ipaddr from 'ipaddr.js';

export interface RateLimitOptions {
  /** Sustained requests per second per key. */
  perSecond: number;
  /** Requests a key may make at once after being idle. */
  burst: number;
}

/** Entries beyond this many idle keys are pruned, so unknown keys cannot grow the map without bound. */
const PRUNE_ABOVE = 10_000;

/** A token bucket per key: a client account, a network address. */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly options: RateLimitOptions,
  ) {}

  /** Takes one token; returns 0 when allowed, else the seconds until a token is available. */
  take(key: string): number {
    const now = this.clock.now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.options.burst, atMs: now };
    const tokens = Math.min(
      this.options.burst,
      bucket.tokens + ((now - bucket.atMs) / 1000) * this.options.perSecond,
    );
    if (tokens < 1) {
      this.#buckets.set(key, { tokens, atMs: now });
      return Math.max(1, Math.ceil((1 - tokens) / this.options.perSecond));
    }
    if (!this.#buckets.has(key) && this.#buckets.size >= PRUNE_ABOVE) this.#prune(now);
    this.#buckets.set(key, { tokens: tokens - 1, atMs: now });
    return 0;
  }

  /** Drops buckets that have refilled completely: forgetting them changes nothing. */
  #prune(now: number): void {
    const refillMs = (this.options.burst / this.options.perSecond) * 1000;
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.atMs >= refillMs) this.#buckets.delete(key);
    }
  }
}

/** Some reverse proxies append `address:port` or `[IPv6]:port`: the address alone. */
function withoutPort(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed) return bracketed[1] as string;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry);
  return v4 ? (v4[1] as string) : entry;
}

/**
 * The network a request counts against, or undefined when it is not limited by address: an IPv4 address, or
 * an IPv6 /64 (one subscriber gets a whole /64, so its single addresses cost an attacker nothing). Behind a
 * reverse proxy (`trustForwardedFor`) it is the address that proxy appended last to X-Forwarded-For;
 * otherwise the peer's, and a loopback peer (the embedded stack, or a local reverse proxy nobody said to
 * trust) is not limited.
 */
export function requestNetwork(req: IncomingMessage, trustForwardedFor: boolean): string | undefined {
  const forwarded = req.headers['x-forwarded-for'];
  const last = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',').at(-1)?.trim();
  const text = trustForwardedFor && last ? withoutPort(last) : req.socket.remoteAddress;
  if (text === undefined || !ipaddr.isValid(text)) return trustForwardedFor ? 'unknown' : undefined;
  const address = ipaddr.process(text);
  if (!trustForwardedFor && address.range() === 'loopback') return undefined;
  if (address.kind() === 'ipv4') return address.toString();
  return `${(address as ipaddr.IPv6).parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`;
}
