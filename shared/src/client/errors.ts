export type ClientErrorCode =
  /** No worker for the model passed attestation under the client's policy. */
  | 'no_verified_worker'
  /** Workers passed attestation, but every one asks more per token than the client's `maxPricePerToken`. */
  | 'no_affordable_worker'
  /** The proxy answered with an HTTP error or an error event (its code is in `detail`). */
  | 'proxy_error'
  /** The stream ended before the answer and its receipt were complete. */
  | 'incomplete'
  /** The receipt disagrees with what the client sent or received. */
  | 'receipt_mismatch'
  /** The worker reported an error inside the sealed stream. */
  | 'worker_error'
  | 'cancelled';

export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly detail?: { status?: number; code?: string; retryAfterSeconds?: number },
  ) {
    super(message);
  }
}
