import type { ApiError } from '@cocoon/shared';

/**
 * Why the proxy refused or ended a request; each code has one HTTP status. Messages never hold content
 * (the proxy never sees any) and name the limit or check that failed.
 */
export const PROXY_ERROR_STATUS = {
  bad_request: 400,
  job_expired: 400,
  too_many_tokens: 400,
  unauthorized: 401,
  insufficient_credit: 402,
  forbidden: 403,
  not_found: 404,
  duplicate_job: 409,
  payload_too_large: 413,
  rate_limited: 429,
  too_many_jobs: 429,
  queue_full: 429,
  internal: 500,
  bad_gateway: 502,
  no_worker: 503,
  policy_stale: 503,
  store_unavailable: 503,
  queue_timeout: 503,
  deadline_exceeded: 504,
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERROR_STATUS;

/**
 * Why a request was refused, as `cocoon_proxy_refusals_total` counts it for abuse monitoring: the error
 * code, or a name that says more (REASON_OF_CODE, or set where the refusal is made).
 */
export type RefusalReason =
  | ProxyErrorCode
  /** The request signature or its headers do not verify. */
  | 'bad_signature'
  /** The request's signed time is outside the window: an old request replayed, or a client clock off. */
  | 'stale_request'
  /** Too many requests from one network address (an IPv4 address or IPv6 /64). */
  | 'address_rate_limited'
  /** A job id seen before: a signed job request sent again. */
  | 'replayed'
  | 'too_large'
  /** A voucher signed by another key, or for a contract that is not the client's. */
  | 'forged_voucher'
  /** A voucher correctly signed but refused: a lower total than before, or above what was metered. */
  | 'invalid_voucher';

const REASON_OF_CODE: Partial<Record<ProxyErrorCode, RefusalReason>> = {
  unauthorized: 'bad_signature',
  duplicate_job: 'replayed',
  payload_too_large: 'too_large',
};

export class ProxyError extends Error {
  override readonly name = 'ProxyError';
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    /** Seconds a client should wait before trying again (sent as `Retry-After`). */
    readonly retryAfterSeconds?: number,
    /** What the refusal counter says, when more precise than the code's own reason. */
    private readonly refusalReason?: RefusalReason,
  ) {
    super(message);
  }

  get reason(): RefusalReason {
    return this.refusalReason ?? REASON_OF_CODE[this.code] ?? this.code;
  }

  get status(): number {
    return PROXY_ERROR_STATUS[this.code];
  }

  toApiError(): ApiError {
    return { error: { code: this.code, message: this.message } };
  }
}
