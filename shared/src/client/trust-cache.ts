import { z } from 'zod';
import { AttestationBundle, type DcapCollateral } from '../attestation/bundle.js';
import type { FreshCollateral } from '../attestation/collateral.js';
import {
  type AttestationPolicy,
  type VerifiedAttestation,
  verifyAttestation,
} from '../attestation/verify.js';
import { fromBase64, sha256, toHex, utf8 } from '../bytes.js';
import type { Clock } from '../clock.js';
import { ModelOffer } from '../protocol/messages.js';
import { verifyOffers } from '../protocol/worker-statements.js';

type PolicyInput = z.input<typeof AttestationPolicy>;

interface Reading {
  at: number;
  policy: Promise<PolicyInput>;
  /** Attestations verified under this reading of the policy, by the SHA-256 of their bundle. */
  verified: Map<string, VerifiedAttestation>;
  /** Offer signature verdicts, by signing key, signature and offers (an Ed25519 check per worker per chat else). */
  offers: Map<string, boolean>;
}

const OfferList = z.array(ModelOffer);

/**
 * The policy a client trusts, read at most every `ttlMs` (on mainnet each read is a get-method call to the
 * Root contract), and the attestations verified under that reading. A bundle's verdict depends only on the
 * bundle, the policy and the time, so within one reading it is reused until the bundle or its collateral
 * expires: a chat then repeats neither the Root read nor the DCAP checks (nor, with `freshCollateral`, the
 * client's own collateral fetch, which is kept longer still). Refusals are not kept. Verdicts on
 * workers' offer signatures are kept too, refusals included: they depend on nothing else.
 */
export class TrustCache {
  private reading: Reading | undefined;

  constructor(
    private readonly readPolicy: () => Promise<PolicyInput>,
    private readonly ttlMs: number,
    private readonly clock: Clock,
    /** Collateral fetched by the client, used for TDX bundles instead of theirs when it can be had. */
    private readonly freshCollateral?: FreshCollateral,
  ) {}

  /** Verifies `bundle` against the current policy at the clock's time, or returns its earlier verdict. */
  async verify(bundle: unknown): Promise<VerifiedAttestation> {
    const reading = this.current();
    const policy = await reading.policy;
    const nowSeconds = this.clock.now() / 1000;
    const key = toHex(sha256(utf8(JSON.stringify(bundle))));
    const known = reading.verified.get(key);
    if (known !== undefined && nowSeconds <= validUntil(known)) return known;
    const collateral = await this.collateralFor(bundle);
    const attestation = await verifyAttestation(
      bundle as never,
      policy,
      nowSeconds,
      collateral ? { collateral } : {},
    );
    reading.verified.set(key, attestation);
    return attestation;
  }

  /** Whether `signPublicKey` signed exactly these offers (`verifyOffers`); the verdict does not depend on time. */
  offersSigned(offers: readonly ModelOffer[], signature: string, signPublicKey: string): boolean {
    const verdicts = this.current().offers;
    const key = `${signPublicKey}:${signature}:${JSON.stringify(z.encode(OfferList, [...offers]))}`;
    const known = verdicts.get(key);
    if (known !== undefined) return known;
    const verdict = verifyOffers(offers, signature, signPublicKey);
    verdicts.set(key, verdict);
    return verdict;
  }

  /** The collateral fetched for `bundle` (a TDX one, with `freshCollateral`), or undefined: its own is used. */
  async collateralFor(bundle: unknown): Promise<DcapCollateral | undefined> {
    if (this.freshCollateral === undefined) return undefined;
    const parsed = AttestationBundle.safeParse(bundle);
    if (!parsed.success || parsed.data.kind !== 'tdx') return undefined;
    return this.freshCollateral.collateralFor(fromBase64(parsed.data.evidence.quote));
  }

  private current(): Reading {
    const now = this.clock.now();
    if (this.reading !== undefined && now - this.reading.at < this.ttlMs) return this.reading;
    const reading: Reading = { at: now, policy: this.readPolicy(), verified: new Map(), offers: new Map() };
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
