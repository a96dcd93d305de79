import type { z } from 'zod';
import {
  type AttestationPolicy,
  type VerifiedAttestation,
  verifyAttestation,
} from '../attestation/verify.js';
import { sha256, toHex, utf8 } from '../bytes.js';
import type { Clock } from '../clock.js';

type PolicyInput = z.input<typeof AttestationPolicy>;

interface Reading {
  at: number;
  policy: Promise<PolicyInput>;
  /** Attestations verified under this reading of the policy, by the SHA-256 of their bundle. */
  verified: Map<string, VerifiedAttestation>;
}

/**
 * The policy a client trusts, read at most every `ttlMs` (on mainnet each read is a get-method call to the
 * Root contract), and the attestations verified under that reading. A bundle's verdict depends only on the
 * bundle, the policy and the time, so within one reading it is reused until the bundle or its collateral
 * expires: a chat then repeats neither the Root read nor the DCAP checks. Refusals are not kept.
 */
export class TrustCache {
  private reading: Reading | undefined;

  constructor(
    private readonly readPolicy: () => Promise<PolicyInput>,
    private readonly ttlMs: number,
    private readonly clock: Clock,
  ) {}

  /** Verifies `bundle` against the current policy at the clock's time, or returns its earlier verdict. */
  async verify(bundle: unknown): Promise<VerifiedAttestation> {
    const reading = this.current();
    const policy = await reading.policy;
    const nowSeconds = this.clock.now() / 1000;
    const key = toHex(sha256(utf8(JSON.stringify(bundle))));
    const known = reading.verified.get(key);
    if (known !== undefined && nowSeconds <= validUntil(known)) return known;
    const attestation = await verifyAttestation(bundle as never, policy, nowSeconds);
    reading.verified.set(key, attestation);
    return attestation;
  }

  private current(): Reading {
    const now = this.clock.now();
    if (this.reading !== undefined && now - this.reading.at < this.ttlMs) return this.reading;
    const reading: Reading = { at: now, policy: this.readPolicy(), verified: new Map() };
    // a failed read is not kept: the next call reads again
    reading.policy.catch(() => {
      if (this.reading === reading) this.reading = undefined;
    });
    this.reading = reading;
    return reading;
  }
}

const validUntil = (attestation: VerifiedAttestation): number =>
  Math.min(attestation.notAfter, attestation.collateralValidUntil ?? Number.POSITIVE_INFINITY);
