// Intel's DCAP collateral, fetched by whoever verifies a quote rather than taken from whoever relays it.
// dcap-qvl's PCCS client uses fetch: this runs under Node and in browsers alike.
import { getCollateral, Quote } from '@phala/dcap-qvl';
import { sha256, toHex } from '../bytes.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { collateralFromDcap, type DcapCollateral } from './bundle.js';

/** Fetches the Intel collateral for a quote. */
export type CollateralFetcher = (quote: Uint8Array) => Promise<DcapCollateral>;

/** The production fetcher: a PCCS (or Intel PCS) at `pccsUrl`, through dcap-qvl's client. */
export function pccsCollateralFetcher(pccsUrl: string): CollateralFetcher {
  return async (quote) => collateralFromDcap(await getCollateral(pccsUrl, quote));
}

/** How long fetched collateral is used before it is fetched again: Intel issues TCB info about daily. */
const DEFAULT_REFRESH_MS = 60 * 60_000;
/** After a failed fetch, how long a platform is not asked about again (each verification would wait else). */
const DEFAULT_RETRY_MS = 60_000;
/** A fetch still unanswered after this long fails (dcap-qvl's requests have no timeout of their own). */
const DEFAULT_TIMEOUT_MS = 10_000;

type Entry =
  | { at: number; collateral: Promise<DcapCollateral>; failed?: undefined }
  | { at: number; failed: unknown; collateral?: undefined };

/**
 * Collateral a client fetches itself, per platform (the PCK certificate chain its quotes carry), kept for
 * `refreshMs`. A bundle's own collateral comes from the worker through the proxy, which could hold back a
 * newer TCB info (a TCB recovery that marks the platform out of date) until the old one expires, a month
 * later; collateral from Intel's service cannot be held back that way. When it cannot be fetched, the caller
 * falls back to the bundle's collateral (logged as a fallback); the failure is remembered for `retryMs`, so
 * that verifications meanwhile do not wait for the service again.
 */
export class FreshCollateral {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly fetchCollateral: CollateralFetcher,
    private readonly clock: Clock,
    private readonly options: { refreshMs?: number; retryMs?: number; timeoutMs?: number; log?: Logger } = {},
  ) {}

  /**
   * The collateral for `quote`'s platform, fetched now or earlier within the refresh period; undefined when
   * it cannot be had (the caller then uses the bundle's).
   */
  async collateralFor(quote: Uint8Array): Promise<DcapCollateral | undefined> {
    try {
      return await this.#forQuote(quote);
    } catch {
      return undefined;
    }
  }

  async #forQuote(quote: Uint8Array): Promise<DcapCollateral> {
    const platform = toHex(sha256(Quote.parse(quote).rawCertChain()));
    const now = this.clock.now();
    const entry = this.#entries.get(platform);
    if (entry !== undefined) {
      if (entry.failed !== undefined && now - entry.at < (this.options.retryMs ?? DEFAULT_RETRY_MS))
        throw entry.failed;
      if (entry.collateral !== undefined && now - entry.at < (this.options.refreshMs ?? DEFAULT_REFRESH_MS))
        return entry.collateral;
    }
    // Verifications of one platform's workers share one fetch, and its failure is told once.
    const collateral = this.#fetchWithin(quote, this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#entries.set(platform, { at: now, collateral });
    collateral.catch((error: unknown) => {
      this.#entries.set(platform, { at: now, failed: error });
      this.options.log?.warn(
        { err: (error as Error).message },
        "fallback: the collateral service cannot be reached; TDX workers are verified with their bundles' collateral",
      );
    });
    return collateral;
  }

  #fetchWithin(quote: Uint8Array, timeoutMs: number): Promise<DcapCollateral> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no collateral from the collateral service within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    return Promise.race([this.fetchCollateral(quote), timedOut]).finally(() => clearTimeout(timer));
  }
}
