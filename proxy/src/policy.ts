import type { Clock } from '@cocoon/shared';
import { AttestationPolicy } from '@cocoon/shared/attestation/verify';
import type { Logger } from '@cocoon/shared/log';
import { ProxyError } from './errors.js';

/** Where the attestation policy comes from: the Root contract's allowlists in production, a fixed one in tests. */
export interface PolicySource {
  read(): Promise<AttestationPolicy>;
}

export class StaticPolicySource implements PolicySource {
  readonly #policy: AttestationPolicy;
  constructor(policy: AttestationPolicy) {
    this.#policy = AttestationPolicy.parse(policy);
  }
  async read(): Promise<AttestationPolicy> {
    return this.#policy;
  }
}

export interface PolicyKeeperOptions {
  /** Refuse to admit workers or route jobs when the last successful read is older than this. */
  maxAgeMs: number;
  /** How often to read the source again. */
  refreshMs: number;
}

/**
 * Holds the latest policy read from its source and how old it is. A policy that could not be refreshed
 * for `maxAgeMs` is not used: allowlists may have changed (a revoked image) since it was read.
 */
export class PolicyKeeper {
  #policy: AttestationPolicy | undefined;
  #readAt = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #listeners: ((policy: AttestationPolicy) => void)[] = [];

  constructor(
    private readonly source: PolicySource,
    private readonly clock: Clock,
    private readonly options: PolicyKeeperOptions,
    private readonly log?: Logger,
  ) {}

  /** Reads the policy once (throws if that fails), then refreshes it every `refreshMs`. */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => {
      this.refresh().catch((error: unknown) =>
        this.log?.warn({ err: (error as Error).message, ageMs: this.ageMs() }, 'policy refresh failed'),
      );
    }, this.options.refreshMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async refresh(): Promise<void> {
    const policy = AttestationPolicy.parse(await this.source.read());
    const changed = this.#policy !== undefined && JSON.stringify(policy) !== JSON.stringify(this.#policy);
    this.#policy = policy;
    this.#readAt = this.clock.now();
    if (changed) for (const listener of this.#listeners) listener(policy);
  }

  /** Called when a refresh brings a different policy, e.g. to verify admitted workers again. */
  onRefresh(listener: (policy: AttestationPolicy) => void): void {
    this.#listeners.push(listener);
  }

  ageMs(): number {
    return this.#policy === undefined ? Number.POSITIVE_INFINITY : this.clock.now() - this.#readAt;
  }

  /** The policy to use now; throws `policy_stale` when there is none or it is too old. */
  current(): AttestationPolicy {
    const age = this.ageMs();
    if (this.#policy === undefined || age > this.options.maxAgeMs) {
      const what =
        this.#policy === undefined
          ? 'no attestation policy has been read yet'
          : `the attestation policy is ${Math.round(age / 1000)}s old`;
      throw new ProxyError(
        'policy_stale',
        `${what} (max ${Math.round(this.options.maxAgeMs / 1000)}s); not serving`,
        5,
      );
    }
    return this.#policy;
  }
}
