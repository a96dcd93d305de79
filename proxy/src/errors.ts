import type { ApiError } from '@cocoon/shared';

/**
 * Why the proxy refused or ended a request; each code has one HTTP status. Messages never hold content
 * (the proxy never sees any) and name the limit or check that failed.
 */
export const PROXY_ERROR_STATUS = {
  bad_request: 400,
  job_expired: 400,
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
  queue_timeout: 503,
  deadline_exceeded: 504,
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERROR_STATUS;

export class ProxyError extends Error {
  override readonly name = 'ProxyError';
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    /** Seconds a client should wait before trying again (sent as `Retry-After`). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  get status(): number {
    return PROXY_ERROR_STATUS[this.code];
  }

  toApiError(): ApiError {
    return { error: { code: this.code, message: this.message } };
  }
}
