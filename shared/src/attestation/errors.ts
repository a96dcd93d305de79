/** Why an attestation bundle was refused; callers branch on `code`, people read `message`. */
export type AttestationErrorCode =
  | 'malformed'
  | 'quote_invalid'
  | 'collateral_expired'
  | 'tcb_not_accepted'
  | 'measurement_not_allowed'
  | 'model_not_allowed'
  | 'report_data_mismatch'
  | 'dev_not_allowed'
  | 'bundle_expired'
  | 'signature_invalid';

export class AttestationError extends Error {
  override readonly name = 'AttestationError';

  constructor(
    readonly code: AttestationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * dcap-qvl reports every failure as a plain Error with a message; these patterns (checked against
 * @phala/dcap-qvl 0.3.9, src/verify.js and src/utils.js) sort them into our codes. Anything unrecognised
 * is a verification failure: `quote_invalid`, never acceptance.
 */
const DCAP_ERROR_CODES: ReadonlyArray<readonly [RegExp, AttestationErrorCode]> = [
  // Collateral (TCB info, QE identity, certificates) not valid at the given time.
  [/expired|issue date is in the future|not yet valid/i, 'collateral_expired'],
  // The platform's TCB is revoked, below every known level, or its QE is below the minimum.
  [/TCB status is invalid|No matching TCB level|QE ISVSVN .* below minimum/i, 'tcb_not_accepted'],
  // Bytes that do not decode as a quote or as collateral.
  [
    /Failed to decode|Unsupported DCAP|must have version|Not enough data|Unsupported (quote|auth data|body|cert)/i,
    'malformed',
  ],
];

export function attestationErrorFromDcap(error: unknown): AttestationError {
  const message = error instanceof Error ? error.message : String(error);
  const code = DCAP_ERROR_CODES.find(([pattern]) => pattern.test(message))?.[1] ?? 'quote_invalid';
  return new AttestationError(code, `DCAP verification failed: ${message}`, { cause: error });
}
