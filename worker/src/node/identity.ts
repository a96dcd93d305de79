import {
  type AttestationBundle,
  type Attestor,
  type Clock,
  generateSigningKeyPair,
  generateWorkerKeyPair,
  type SigningKeyPair,
  toHex,
  unixSeconds,
  type WorkerHpkeKeyPair,
} from '@cocoon/shared';

/** One generation of the worker's keys and the attestation that binds them. Never written anywhere. */
export interface WorkerKeys {
  hpke: WorkerHpkeKeyPair;
  signing: SigningKeyPair;
  bundle: AttestationBundle;
}

export interface WorkerIdentityOptions {
  attestor: Attestor;
  /** SHA-256 of every model served. */
  models: string[];
  /** How long a key generation is valid; the worker rotates before it runs out. */
  lifetimeSeconds: number;
  clock: Clock;
}

/**
 * The worker's in-memory keys. After a rotation the previous generation stays usable only for the jobs
 * already running under it, and is dropped when the last of them ends.
 */
export class WorkerIdentity {
  #current: WorkerKeys;
  #previous: WorkerKeys | undefined;
  readonly #inFlight = new Map<string, number>();

  private constructor(
    private readonly options: WorkerIdentityOptions,
    keys: WorkerKeys,
  ) {
    this.#current = keys;
  }

  static async create(options: WorkerIdentityOptions): Promise<WorkerIdentity> {
    return new WorkerIdentity(options, await generateKeys(options));
  }

  get current(): WorkerKeys {
    return this.#current;
  }

  /** Seconds until the current keys must be replaced. */
  secondsLeft(): number {
    return this.#current.bundle.notAfter - unixSeconds(this.options.clock);
  }

  async rotate(): Promise<WorkerKeys> {
    const next = await generateKeys(this.options);
    this.#previous = this.#current;
    this.#current = next;
    this.#dropPreviousWhenIdle();
    return next;
  }

  /**
   * Takes the key generation a job was sealed to (by HPKE key id) for the job's duration.
   * Returns undefined when the job names no key this worker still holds.
   */
  acquire(keyIds: readonly string[]): { keys: WorkerKeys; release(): void } | undefined {
    const keys = [this.#current, this.#previous].find(
      (k) => k !== undefined && keyIds.includes(k.hpke.keyId),
    );
    if (keys === undefined) return undefined;
    const id = keys.hpke.keyId;
    this.#inFlight.set(id, (this.#inFlight.get(id) ?? 0) + 1);
    let released = false;
    return {
      keys,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.#inFlight.get(id) ?? 1) - 1;
        if (left === 0) this.#inFlight.delete(id);
        else this.#inFlight.set(id, left);
        this.#dropPreviousWhenIdle();
      },
    };
  }

  /** Whether the previous key generation is still held (for jobs in flight). */
  get holdsPrevious(): boolean {
    return this.#previous !== undefined;
  }

  #dropPreviousWhenIdle(): void {
    if (this.#previous !== undefined && !this.#inFlight.has(this.#previous.hpke.keyId))
      this.#previous = undefined;
  }
}

async function generateKeys(options: WorkerIdentityOptions): Promise<WorkerKeys> {
  const hpke = await generateWorkerKeyPair();
  const signing = generateSigningKeyPair();
  const bundle = await options.attestor.attest({
    hpkePublicKey: toHex(hpke.publicKey),
    signPublicKey: toHex(signing.publicKey),
    models: [...options.models].sort(),
    notAfter: unixSeconds(options.clock) + options.lifetimeSeconds,
  });
  return { hpke, signing, bundle };
}
