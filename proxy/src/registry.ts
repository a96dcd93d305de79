import {
  type Clock,
  fromHex,
  jobCost,
  type ModelOffer,
  type ProxyToWorker,
  randomBytes,
  type SealedJob,
  toHex,
  verifyOffers,
  verifyPayoutAddress,
  type WorkerToProxy,
} from '@cocoon/shared';
import { AttestationError } from '@cocoon/shared/attestation/errors';
import { type VerifiedAttestation, verifyAttestation } from '@cocoon/shared/attestation/verify';
import { hpkeKeyId } from '@cocoon/shared/crypto/hpke';
import type { Logger } from '@cocoon/shared/log';
import { Address } from '@ton/core';
import type { PolicyKeeper } from './policy.js';

/** The proxy's side of one worker's WebSocket. */
export interface WorkerLink {
  send(message: ProxyToWorker): void;
  /** Sends a `job` message around a sealed job's wire JSON, which was validated when it came in. */
  sendJob(wire: string): void;
  close(code: number, reason: string): void;
}

export type WorkerHello = Extract<WorkerToProxy, { type: 'hello' }>;
export type WorkerLoad = WorkerHello['load'];

export type AdmissionErrorCode =
  | 'policy_stale'
  | 'attestation_refused'
  | 'offer_not_attested'
  | 'duplicate_key'
  | 'bad_payout_address'
  | 'payout_not_signed'
  | 'offers_not_signed';

/**
 * Earnings are totalled per payout address, so one wallet must have one spelling: the raw form
 * (`0:<hex>`), whatever form (bounceable, test-only, raw) the worker sent.
 */
function rawPayoutAddress(address: string): string {
  try {
    return Address.parse(address).toRawString();
  } catch {
    throw new AdmissionError(
      'bad_payout_address',
      `payout address ${JSON.stringify(address)} is not a TON address`,
    );
  }
}

/**
 * The payout address and the offers must be signed by the key the attestation binds: nobody on the way can
 * redirect earnings or change prices (clients check the offers' signature again).
 */
function requireSignatures(
  statements: { payoutAddress: string; offers: readonly ModelOffer[] },
  signatures: { payoutSignature: string; offersSignature: string },
  attestation: VerifiedAttestation,
) {
  if (!verifyPayoutAddress(statements.payoutAddress, signatures.payoutSignature, attestation.signPublicKey)) {
    throw new AdmissionError(
      'payout_not_signed',
      'the payout address is not signed by the attested signing key (payoutSignature)',
    );
  }
  if (!verifyOffers(statements.offers, signatures.offersSignature, attestation.signPublicKey)) {
    throw new AdmissionError(
      'offers_not_signed',
      'the model offers are not signed by the attested signing key (offersSignature)',
    );
  }
}

export class AdmissionError extends Error {
  override readonly name = 'AdmissionError';
  constructor(
    readonly code: AdmissionErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A worker whose attestation verified under the current policy. `inFlight` is the router's count. */
export class AdmittedWorker {
  inFlight = 0;
  draining = false;
  constructor(
    readonly id: string,
    readonly link: WorkerLink,
    readonly payoutAddress: string,
    public bundle: unknown,
    public attestation: VerifiedAttestation,
    public keyId: string,
    readonly offers: ReadonlyMap<string, ModelOffer>,
    /** The offers' signature by the attested key, listed for clients to check. */
    public offersSignature: string,
    public load: WorkerLoad,
    public lastSeenMs: number,
  ) {}

  /** Free slots as this proxy counts them (the worker's own count lags by a heartbeat). */
  get freeSlots(): number {
    return Math.max(0, this.load.capacity - this.inFlight);
  }

  /** Fraction of capacity in use; a worker without capacity counts as full. */
  get utilisation(): number {
    return this.load.capacity === 0 ? 1 : this.inFlight / this.load.capacity;
  }

  /** Can take this job at its price, ignoring how busy it is. */
  serves(header: SealedJob['header'], nowMs: number): boolean {
    const offer = this.offers.get(header.model);
    return (
      offer !== undefined &&
      !this.draining &&
      this.attestation.notAfter * 1000 > nowMs &&
      priceFits(offer, header)
    );
  }
}

/**
 * A worker's price fits a job when the job's whole completion budget at that price stays within the
 * client's maximum; prompt tokens are unknown to the proxy, and the worker stops before passing maxCost.
 */
export const priceFits = (offer: ModelOffer, header: SealedJob['header']): boolean =>
  jobCost({ promptTokens: 0, completionTokens: header.maxTokens }, offer) <= header.maxCost;

export interface RegistryListener {
  /** A worker was admitted, reported more capacity, or finished a job: queued jobs may now fit. */
  capacityFreed(worker: AdmittedWorker): void;
  /** A worker left (disconnected, timed out, refused on re-verification); its jobs need failover. */
  workerGone(worker: AdmittedWorker, reason: string): void;
}

export interface RegistryOptions {
  /** A worker that sends nothing for this long is dropped. */
  heartbeatTimeoutMs: number;
}

/** Admitted workers, indexed by id and by HPKE key id (how sealed jobs name their recipients). */
export class WorkerRegistry {
  readonly #byId = new Map<string, AdmittedWorker>();
  readonly #byKeyId = new Map<string, AdmittedWorker>();
  #listener: RegistryListener | undefined;

  constructor(
    private readonly policy: PolicyKeeper,
    private readonly clock: Clock,
    private readonly options: RegistryOptions,
    private readonly log?: Logger,
  ) {}

  setListener(listener: RegistryListener): void {
    this.#listener = listener;
  }

  /** Verifies a hello's attestation and offers; throws AdmissionError with the reason to send back. */
  async admit(link: WorkerLink, hello: WorkerHello): Promise<AdmittedWorker> {
    const payoutAddress = rawPayoutAddress(hello.payoutAddress);
    const attestation = await this.#verify(hello.bundle);
    requireSignatures({ payoutAddress, offers: hello.models }, hello, attestation);
    const offers = new Map<string, ModelOffer>();
    for (const offer of hello.models) {
      if (!attestation.models.includes(offer.model)) {
        throw new AdmissionError(
          'offer_not_attested',
          `model ${offer.model} is offered but not in the attestation`,
        );
      }
      if (offers.has(offer.model)) {
        throw new AdmissionError('offer_not_attested', `model ${offer.model} is offered twice`);
      }
      offers.set(offer.model, offer);
    }
    const keyId = this.#claimKey(attestation);
    const worker = new AdmittedWorker(
      `w-${toHex(randomBytes(8))}`,
      link,
      payoutAddress,
      hello.bundle,
      attestation,
      keyId,
      offers,
      hello.offersSignature,
      hello.load,
      this.clock.now(),
    );
    this.#byId.set(worker.id, worker);
    this.#byKeyId.set(keyId, worker);
    this.log?.info(
      { workerId: worker.id, kind: attestation.kind, secure: attestation.secure, models: [...offers.keys()] },
      'worker admitted',
    );
    this.#listener?.capacityFreed(worker);
    return worker;
  }

  /**
   * A fresh bundle after key rotation. New jobs go to the new key; jobs in flight keep the signing key they
   * were dispatched with. Every offered model must still be attested. Throws AdmissionError.
   */
  async rotate(
    worker: AdmittedWorker,
    rotated: { bundle: unknown; payoutSignature: string; offersSignature: string },
  ): Promise<void> {
    const { bundle } = rotated;
    const attestation = await this.#verify(bundle);
    requireSignatures(
      { payoutAddress: worker.payoutAddress, offers: [...worker.offers.values()] },
      rotated,
      attestation,
    );
    const missing = [...worker.offers.keys()].filter((model) => !attestation.models.includes(model));
    if (missing.length > 0) {
      throw new AdmissionError(
        'offer_not_attested',
        `rotated attestation drops offered models ${missing.join(', ')}`,
      );
    }
    if (!this.#byId.has(worker.id)) return;
    this.#byKeyId.delete(worker.keyId);
    const keyId = this.#claimKey(attestation);
    worker.attestation = attestation;
    worker.bundle = bundle;
    worker.offersSignature = rotated.offersSignature;
    worker.keyId = keyId;
    this.#byKeyId.set(keyId, worker);
    this.log?.info({ workerId: worker.id }, 'worker rotated its keys');
  }

  heartbeat(worker: AdmittedWorker, load: WorkerLoad): void {
    const grew = load.capacity > worker.load.capacity;
    worker.load = load;
    this.touch(worker);
    if (grew) this.#listener?.capacityFreed(worker);
  }

  /** Any message from a worker shows it is alive. */
  touch(worker: AdmittedWorker): void {
    worker.lastSeenMs = this.clock.now();
  }

  drain(worker: AdmittedWorker): void {
    worker.draining = true;
    this.log?.info({ workerId: worker.id, inFlight: worker.inFlight }, 'worker draining');
  }

  /** Forgets the worker and tells the listener; `reject` also tells the worker why and closes its link. */
  remove(worker: AdmittedWorker, reason: string, options: { reject?: boolean } = {}): void {
    if (this.#byId.get(worker.id) !== worker) return;
    this.#byId.delete(worker.id);
    if (this.#byKeyId.get(worker.keyId) === worker) this.#byKeyId.delete(worker.keyId);
    this.log?.info({ workerId: worker.id, reason }, 'worker removed');
    if (options.reject) {
      worker.link.send({ type: 'rejected', reason });
      worker.link.close(1008, reason.slice(0, 120));
    }
    this.#listener?.workerGone(worker, reason);
  }

  get(id: string): AdmittedWorker | undefined {
    return this.#byId.get(id);
  }

  all(): AdmittedWorker[] {
    return [...this.#byId.values()];
  }

  /** The job's recipients that are admitted and serve its model at a fitting price, in recipient order. */
  eligibleFor(job: SealedJob): AdmittedWorker[] {
    const now = this.clock.now();
    const eligible: AdmittedWorker[] = [];
    for (const recipient of job.recipients) {
      const worker = this.#byKeyId.get(recipient.keyId);
      if (worker?.serves(job.header, now)) eligible.push(worker);
    }
    return eligible;
  }

  /** Drops workers that went silent or whose attestation expired; run it periodically. */
  sweep(): void {
    const now = this.clock.now();
    for (const worker of this.all()) {
      if (now - worker.lastSeenMs > this.options.heartbeatTimeoutMs) {
        this.remove(worker, `no heartbeat for ${Math.round((now - worker.lastSeenMs) / 1000)}s`, {
          reject: true,
        });
      } else if (worker.attestation.notAfter * 1000 <= now) {
        this.remove(worker, 'attestation expired; rotate and connect again', { reject: true });
      } else if ((worker.attestation.collateralValidUntil ?? Number.POSITIVE_INFINITY) * 1000 <= now) {
        this.remove(worker, 'DCAP collateral expired; send a bundle with fresh collateral', { reject: true });
      }
    }
  }

  /** Verifies every admitted worker under a new policy; those that no longer pass are rejected. */
  async reverifyAll(): Promise<void> {
    await Promise.all(
      this.all().map(async (worker) => {
        try {
          worker.attestation = await this.#verify(worker.bundle);
        } catch (error) {
          this.remove(worker, (error as Error).message, { reject: true });
        }
      }),
    );
  }

  async #verify(bundle: unknown): Promise<VerifiedAttestation> {
    let policy: ReturnType<PolicyKeeper['current']>;
    try {
      policy = this.policy.current();
    } catch (error) {
      throw new AdmissionError('policy_stale', (error as Error).message);
    }
    try {
      return await verifyAttestation(
        bundle as Parameters<typeof verifyAttestation>[0],
        policy,
        this.clock.now() / 1000,
      );
    } catch (error) {
      if (error instanceof AttestationError) {
        throw new AdmissionError(
          'attestation_refused',
          `attestation refused (${error.code}): ${error.message}`,
        );
      }
      throw error;
    }
  }

  #claimKey(attestation: VerifiedAttestation): string {
    const keyId = hpkeKeyId(fromHex(attestation.hpkePublicKey));
    if (this.#byKeyId.has(keyId)) {
      throw new AdmissionError('duplicate_key', 'another admitted worker already uses this HPKE key');
    }
    return keyId;
  }
}
