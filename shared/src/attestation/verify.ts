import { verify as dcapVerify } from '@phala/dcap-qvl';
import { z } from 'zod';
import { equalBytes, fromBase64, fromHex } from '../bytes.js';
import { Hex32 } from '../protocol/primitives.js';
import { verifyBytes } from '../signing.js';
import { AttestationBundle, type DcapCollateral, type WorkerClaims } from './bundle.js';
import { checkCrls } from './crl.js';
import { AttestationError, attestationErrorFromDcap } from './errors.js';
import { imageHash, parseTdxQuote, type TdMeasurements } from './quote.js';
import { workerReportData } from './reportdata.js';

/** TCB statuses dcap-qvl can return for a verified quote ('Revoked' is always an error there). */
export const TcbStatus = z.enum([
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
]);
export type TcbStatus = z.output<typeof TcbStatus>;

/** What a client trusts: image and model allowlists (from the Root contract) and the TCB levels it accepts. */
export const AttestationPolicy = z.object({
  /** Accept `dev` bundles (no TEE). Results still say `secure: false`. */
  allowDev: z.boolean(),
  /** Allowed `imageHash` values: SHA-256(MRTD ‖ RTMR0..3). */
  imageHashes: z.array(Hex32),
  /** Allowed model hashes: SHA-256 of GGUF files. */
  models: z.array(Hex32),
  acceptedTcbStatuses: z.array(TcbStatus).min(1).default(['UpToDate']),
});
export type AttestationPolicy = z.output<typeof AttestationPolicy>;

export interface VerifiedAttestation {
  kind: AttestationBundle['kind'];
  /** True only for a TEE quote that passed every check; `dev` bundles are never secure. */
  secure: boolean;
  imageHash?: string;
  measurements?: TdMeasurements;
  tcbStatus?: TcbStatus;
  advisoryIds?: string[];
  /** Unix seconds after which this collateral no longer verifies (earliest nextUpdate of TCB info, QE identity, CRLs). */
  collateralValidUntil?: number;
  hpkePublicKey: string;
  signPublicKey: string;
  models: string[];
  notAfter: number;
}

export interface VerifyOptions {
  /** Collateral to use instead of the bundle's own (e.g. from the client's PCCS cache). */
  collateral?: DcapCollateral;
}

/**
 * Checks a worker's bundle against a policy at a given time (the caller's clock, so tests and offline
 * verifiers pin it inside the collateral's validity window). Resolves only when every check passes;
 * otherwise rejects with an AttestationError whose code says which check failed.
 */
export async function verifyAttestation(
  bundle: z.input<typeof AttestationBundle>,
  policy: z.input<typeof AttestationPolicy>,
  now: Date | number,
  options: VerifyOptions = {},
): Promise<VerifiedAttestation> {
  const parsedBundle = parseOrThrow(AttestationBundle, bundle, 'attestation bundle');
  const parsedPolicy = parseOrThrow(AttestationPolicy, policy, 'attestation policy');
  const nowSeconds = toUnixSeconds(now);
  const verified =
    parsedBundle.kind === 'tdx'
      ? verifyTdx(parsedBundle, parsedPolicy, nowSeconds, options)
      : verifyDev(parsedBundle, parsedPolicy);
  if (parsedBundle.notAfter < nowSeconds) {
    throw new AttestationError(
      'bundle_expired',
      `bundle expired at ${parsedBundle.notAfter}, now ${nowSeconds}`,
    );
  }
  return verified;
}

type TdxBundle = Extract<AttestationBundle, { kind: 'tdx' }>;
type DevBundle = Extract<AttestationBundle, { kind: 'dev' }>;

/** A quote that passed dcap-qvl and the policy's TCB and image checks; not yet bound to any bundle. */
export interface VerifiedTdxQuote {
  imageHash: string;
  measurements: TdMeasurements;
  /** The 64 bytes the quoting TD chose; see `checkReportDataBinding`. */
  reportData: Uint8Array;
  tcbStatus: TcbStatus;
  advisoryIds: string[];
  /** Unix seconds after which this collateral no longer verifies (earliest nextUpdate of TCB info, QE identity, CRLs). */
  collateralValidUntil: number;
}

/**
 * The hardware half of TDX verification: quote signature, QE report, PCK chain up to Intel's root, TCB info
 * and QE identity valid at `now` (dcap-qvl), CRLs signed and current (checkCrls), then the policy's TCB
 * statuses and image allowlist.
 */
export function verifyTdxQuote(
  quote: Uint8Array,
  collateral: DcapCollateral,
  policy: z.input<typeof AttestationPolicy>,
  now: Date | number,
): VerifiedTdxQuote {
  const { acceptedTcbStatuses, imageHashes } = parseOrThrow(AttestationPolicy, policy, 'attestation policy');
  const nowSeconds = toUnixSeconds(now);
  let report: ReturnType<typeof dcapVerify>;
  try {
    report = dcapVerify(quote, collateral, nowSeconds);
  } catch (error) {
    throw attestationErrorFromDcap(error);
  }
  const crlsValidUntil = checkCrls(quote, collateral, nowSeconds);
  const tcbStatus = TcbStatus.safeParse(report.status);
  if (!tcbStatus.success || !acceptedTcbStatuses.includes(tcbStatus.data)) {
    const advisories =
      report.advisory_ids.length > 0 ? ` (advisories ${report.advisory_ids.join(', ')})` : '';
    throw new AttestationError(
      'tcb_not_accepted',
      `TCB status ${report.status} is not in [${acceptedTcbStatuses.join(', ')}]${advisories}`,
    );
  }
  const { measurements, reportData } = parseTdxQuote(quote);
  const hash = imageHash(measurements);
  if (!imageHashes.includes(hash)) {
    throw new AttestationError('measurement_not_allowed', `image hash ${hash} is not in the allowlist`);
  }
  return {
    imageHash: hash,
    measurements,
    reportData,
    tcbStatus: tcbStatus.data,
    advisoryIds: [...report.advisory_ids],
    collateralValidUntil: Math.min(crlsValidUntil, signedJsonValidUntil(collateral)),
  };
}

/** The software half: the quote's REPORTDATA must commit to exactly these keys, models and notAfter. */
export function checkReportDataBinding(reportData: Uint8Array, claims: WorkerClaims): void {
  if (!equalBytes(reportData, workerReportData(claims))) {
    throw new AttestationError(
      'report_data_mismatch',
      "the quote's REPORTDATA does not bind this bundle's keys, models and notAfter",
    );
  }
}

function verifyTdx(
  bundle: TdxBundle,
  policy: AttestationPolicy,
  nowSeconds: number,
  options: VerifyOptions,
): VerifiedAttestation {
  const collateral = options.collateral ?? bundle.evidence.collateral;
  if (!collateral) {
    throw new AttestationError(
      'malformed',
      'no DCAP collateral: neither the bundle nor the verifier has one',
    );
  }
  const { reportData, ...quote } = verifyTdxQuote(
    fromBase64(bundle.evidence.quote),
    collateral,
    policy,
    nowSeconds,
  );
  checkModels(bundle.models, policy);
  checkReportDataBinding(reportData, bundle);
  return { ...claimsOf(bundle), ...quote, kind: 'tdx', secure: true };
}

function verifyDev(bundle: DevBundle, policy: AttestationPolicy): VerifiedAttestation {
  if (!policy.allowDev) {
    throw new AttestationError('dev_not_allowed', 'dev bundles (no TEE) are refused by this policy');
  }
  const signature = fromBase64(bundle.evidence.signature);
  const devPublicKey = fromHex(bundle.evidence.devPublicKey);
  if (!verifyBytes(signature, workerReportData(bundle), devPublicKey)) {
    throw new AttestationError('signature_invalid', 'dev bundle signature does not match its claims');
  }
  checkModels(bundle.models, policy);
  return { ...claimsOf(bundle), kind: 'dev', secure: false };
}

function checkModels(models: readonly string[], policy: AttestationPolicy): void {
  const refused = models.filter((model) => !policy.models.includes(model));
  if (refused.length > 0) {
    throw new AttestationError('model_not_allowed', `models not in the allowlist: ${refused.join(', ')}`);
  }
}

function claimsOf(bundle: AttestationBundle) {
  const { hpkePublicKey, signPublicKey, models, notAfter } = bundle;
  return { hpkePublicKey, signPublicKey, models: [...models], notAfter };
}

/** Only called on collateral dcap-qvl has just accepted, so both JSON documents parse and carry dates. */
function signedJsonValidUntil(collateral: DcapCollateral): number {
  const nextUpdate = (json: string) =>
    Date.parse((JSON.parse(json) as { nextUpdate: string }).nextUpdate) / 1000;
  return Math.min(nextUpdate(collateral.tcb_info), nextUpdate(collateral.qe_identity));
}

function toUnixSeconds(now: Date | number): number {
  const seconds = Math.floor(now instanceof Date ? now.getTime() / 1000 : now);
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new AttestationError('malformed', `invalid verification time: ${String(now)}`);
  }
  return seconds;
}

function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new AttestationError('malformed', `invalid ${what}: ${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}
