import { AttestationBundle, type DcapCollateral } from '@cocoon/shared/attestation/bundle';
import {
  type AttestationPolicy,
  type VerifiedAttestation,
  verifyAttestation,
} from '@cocoon/shared/attestation/verify';
import type { HistoryJob } from '@cocoon/shared/protocol/app-api';
import type { WorkerListing } from '@cocoon/shared/protocol/messages';
import { verifyOffers } from '@cocoon/shared/protocol/worker-statements';
import { type Receipt, verifyReceipt } from '@cocoon/shared/receipt';

/**
 * The checks the Mini App runs itself, with shared's code, so it never takes the server's word for a receipt
 * or a worker: a verdict, the reason when it fails, and what was verified.
 */
export type Verdict<T> = { ok: true; value: T } | { ok: false; reason: string };

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export interface VerifiedJob {
  receipt: Receipt;
  attestation: VerifiedAttestation;
}

/**
 * A history job passes when its receipt's signature verifies, the receipt says what the job row says, and the
 * signing key is the one the worker's attestation binds (checked at the receipt's time, against the policy).
 */
export async function verifyJob(job: HistoryJob, policy: AttestationPolicy): Promise<Verdict<VerifiedJob>> {
  let receipt: Receipt;
  try {
    receipt = verifyReceipt(job.receipt);
  } catch (error) {
    return { ok: false, reason: reasonOf(error) };
  }
  const mismatch = [
    receipt.jobId !== job.jobId && 'job id',
    receipt.amount !== job.cost && 'cost',
    receipt.promptTokens !== job.promptTokens && 'prompt tokens',
    receipt.completionTokens !== job.completionTokens && 'completion tokens',
  ].filter((field): field is string => field !== false);
  if (mismatch.length > 0) {
    return { ok: false, reason: `the receipt disagrees with the history on ${mismatch.join(', ')}` };
  }
  let attestation: VerifiedAttestation;
  try {
    attestation = await verifyAttestation(job.attestation as never, policy, receipt.time);
  } catch (error) {
    return { ok: false, reason: `worker attestation: ${reasonOf(error)}` };
  }
  if (attestation.signPublicKey !== receipt.worker) {
    return { ok: false, reason: 'the receipt is signed by a key the worker attestation does not bind' };
  }
  if (!attestation.models.includes(receipt.model)) {
    return { ok: false, reason: 'the receipt names a model the worker attestation does not cover' };
  }
  return { ok: true, value: { receipt, attestation } };
}

export interface WorkerCheck {
  workerId: string;
  /** The bundle's kind as it claims, even when it does not verify. */
  kind: 'tdx' | 'dev' | 'unknown';
  /**
   * For a TDX worker, whose Intel collateral it was judged by: the one the app fetched itself, or the
   * bundle's own (which came through the proxy, and may be older).
   */
  collateral?: 'app' | 'bundle';
  verdict: Verdict<VerifiedAttestation>;
}

/**
 * A worker passes when its attestation verifies against the policy now (with `collateral`, the Intel
 * collateral the app fetched, when there is one) and its offers are signed by the key it attests.
 */
export async function verifyWorker(
  listing: WorkerListing,
  policy: AttestationPolicy,
  nowSeconds: number,
  collateral?: DcapCollateral,
): Promise<WorkerCheck> {
  const parsed = AttestationBundle.safeParse(listing.bundle);
  const kind: WorkerCheck['kind'] = parsed.success ? parsed.data.kind : 'unknown';
  const check: Omit<WorkerCheck, 'verdict'> = {
    workerId: listing.workerId,
    kind,
    ...(kind === 'tdx'
      ? { collateral: collateral === undefined ? ('bundle' as const) : ('app' as const) }
      : {}),
  };
  try {
    const attestation = await verifyAttestation(
      listing.bundle as never,
      policy,
      nowSeconds,
      collateral === undefined ? {} : { collateral },
    );
    if (!verifyOffers(listing.models, listing.offersSignature, attestation.signPublicKey)) {
      const reason = 'its model offers are not signed by its attested key';
      return { ...check, verdict: { ok: false, reason } };
    }
    return { ...check, verdict: { ok: true, value: attestation } };
  } catch (error) {
    return { ...check, verdict: { ok: false, reason: reasonOf(error) } };
  }
}
