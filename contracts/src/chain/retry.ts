// Retries of toncenter requests that failed for a passing reason: the connection, a timeout, a rate limit (429)
// or the server's own trouble (5xx). They sit below @ton/ton's TonClient, in the axios adapter its HttpApi hands
// every request to, so one wrapper covers every call it makes: balances, deployment checks, history, the
// get methods of `open()`ed contracts (the wallet's seqno too) and sends.
import axios, { type AxiosAdapter } from 'axios';
import pRetry from 'p-retry';

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** The wait before the first retry; it doubles with each one, times a random 1-2 (jitter). */
  baseDelayMs: number;
  /** The longest wait between tries, and the longest Retry-After honoured: past it the request fails at once. */
  maxDelayMs: number;
}

/** Errors of the connection itself (no answer came); ECONNABORTED and ETIMEDOUT are axios' timeouts. */
const CONNECTION_ERRORS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/**
 * toncenter answers a 500 when the contract refused an external message ("External message was not accepted",
 * with its exit code), and so does the local RPC ("the message was not accepted"): the contract's answer, which
 * a retry would only repeat.
 */
const REFUSED_BY_CONTRACT = /message was not accepted/i;

/** Whether `error` is worth another try: no answer (a connection error or timeout), a 429 or a 5xx. */
export function isTransient(error: unknown): boolean {
  if (!axios.isAxiosError(error)) return false;
  const response = error.response;
  if (!response) return error.code !== undefined && CONNECTION_ERRORS.has(error.code);
  if (response.status === 429) return true;
  return (
    response.status >= 500 && !(typeof response.data === 'string' && REFUSED_BY_CONTRACT.test(response.data))
  );
}

/** The wait a Retry-After header asks for (seconds or an HTTP date), if the answer has a readable one. */
export function retryAfterMs(error: unknown, now = Date.now()): number | undefined {
  if (!axios.isAxiosError(error)) return undefined;
  const header = error.response?.headers['retry-after'];
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An axios adapter (TonClient's `httpAdapter`) that tries each request up to `attempts` times while it fails
 * transiently, with exponential backoff and jitter, and rethrows the last error as it came. Each try gets the
 * request's full timeout.
 *
 * Sends are retried too: a signed external message sent twice is harmless, the wallet takes its seqno once and
 * refuses the replay (see NetworkChain.confirmed for a replay refused because the first copy landed).
 */
export function retryingAdapter(options: RetryOptions): AxiosAdapter {
  const request = axios.getAdapter(axios.defaults.adapter);
  return (config) =>
    pRetry(() => request(config), {
      retries: options.attempts - 1,
      factor: 2,
      minTimeout: options.baseDelayMs,
      maxTimeout: options.maxDelayMs,
      randomize: true,
      // called only while tries are left; a Retry-After wait comes before the backoff, so it is never cut short
      shouldRetry: async ({ error }) => {
        if (!isTransient(error)) return false;
        const asked = retryAfterMs(error);
        if (asked === undefined) return true;
        if (asked > options.maxDelayMs) return false;
        await sleep(asked);
        return true;
      },
    });
}
