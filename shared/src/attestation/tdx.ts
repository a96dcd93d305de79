// Node-only by nature: talks to the Linux kernel's configfs-tsm through node:fs. Keep it out of the
// browser import graph (nothing else in attestation/ imports it).
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { equalBytes, toBase64 } from '../bytes.js';
import { PROTOCOL_VERSION } from '../protocol/primitives.js';
import type { Attestor } from './attestor.js';
import { AttestationBundle, type WorkerClaims } from './bundle.js';
import type { CollateralFetcher } from './collateral.js';
import { AttestationError } from './errors.js';
import { parseTdxQuote } from './quote.js';
import { workerReportData } from './reportdata.js';

export const CONFIGFS_TSM_REPORT_ROOT = '/sys/kernel/config/tsm/report';
const DEFAULT_ENTRY_NAME = 'cocoon-worker';

export interface ConfigfsTsmOptions {
  /** Where configfs-tsm report entries live; tests point it at a directory that simulates one. */
  reportRoot?: string;
  /** The report entry this process creates and reuses under `reportRoot`. */
  entryName?: string;
}

export interface TdxAttestorOptions extends ConfigfsTsmOptions {
  /** Fetches the collateral each bundle carries, so that clients can verify offline; without one,
   * bundles carry none and verifiers must bring their own. */
  fetchCollateral?: CollateralFetcher;
}

/** Quotes from the TDX module via configfs-tsm: REPORTDATA into `inblob`, the signed quote out of `outblob`. */
export class TdxAttestor implements Attestor {
  readonly kind = 'tdx' as const;
  readonly #options: TdxAttestorOptions;
  /** One request at a time per entry: a second inblob write would replace the first's REPORTDATA. */
  #pending: Promise<unknown> = Promise.resolve();

  constructor(options: TdxAttestorOptions = {}) {
    this.#options = options;
  }

  async attest(claims: WorkerClaims): Promise<AttestationBundle> {
    const quote = await this.quote(workerReportData(claims));
    const collateral = await this.#options.fetchCollateral?.(quote);
    return AttestationBundle.parse({
      v: PROTOCOL_VERSION,
      kind: 'tdx',
      hpkePublicKey: claims.hpkePublicKey,
      signPublicKey: claims.signPublicKey,
      models: claims.models,
      notAfter: claims.notAfter,
      evidence: { quote: toBase64(quote), collateral },
    });
  }

  /** A TDX quote whose REPORTDATA is `reportData` (64 bytes). */
  quote(reportData: Uint8Array): Promise<Uint8Array> {
    const result = this.#pending.then(() => this.#generateQuote(reportData));
    this.#pending = result.catch(() => undefined);
    return result;
  }

  async #generateQuote(reportData: Uint8Array): Promise<Uint8Array> {
    if (reportData.length !== 64)
      throw new RangeError(`REPORTDATA must be 64 bytes, got ${reportData.length}`);
    const entry = entryPath(this.#options);
    try {
      await ensureEntry(entry);
      await writeFile(join(entry, 'inblob'), reportData);
      const generation = await readFile(join(entry, 'generation'), 'utf8');
      const quote = new Uint8Array(await readFile(join(entry, 'outblob')));
      if ((await readFile(join(entry, 'generation'), 'utf8')) !== generation) {
        throw new Error(`another process wrote to ${entry} while this quote was generated`);
      }
      // A provider that ignored our inblob, or a stale outblob, must not become this worker's evidence.
      if (!equalBytes(parseTdxQuote(quote).reportData, reportData)) {
        throw new AttestationError(
          'report_data_mismatch',
          `the quote from ${entry} does not carry our REPORTDATA`,
        );
      }
      return quote;
    } catch (error) {
      if (error instanceof AttestationError) throw error;
      throw new Error(`configfs-tsm quote generation failed at ${entry}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}

export interface TdxAvailability {
  available: boolean;
  /** What was found, or why not, in words for `doctor`. */
  detail: string;
}

/** Whether this machine can produce TDX quotes through configfs-tsm (needs root to create the entry). */
export async function tdxAvailable(options: ConfigfsTsmOptions = {}): Promise<TdxAvailability> {
  const root = options.reportRoot ?? CONFIGFS_TSM_REPORT_ROOT;
  if (!(await isDirectory(root))) {
    return {
      available: false,
      detail: `${root} is missing: not a TDX guest, a kernel older than 6.7, or configfs not mounted`,
    };
  }
  let provider: string;
  try {
    const entry = entryPath(options);
    await ensureEntry(entry);
    provider = (await readFile(join(entry, 'provider'), 'utf8')).trim();
  } catch (error) {
    return { available: false, detail: `cannot use ${root}: ${(error as Error).message}` };
  }
  return provider === 'tdx_guest'
    ? { available: true, detail: `configfs-tsm at ${root}, provider tdx_guest` }
    : { available: false, detail: `configfs-tsm provider is ${provider || 'unknown'}, not tdx_guest` };
}

const entryPath = (options: ConfigfsTsmOptions): string =>
  join(options.reportRoot ?? CONFIGFS_TSM_REPORT_ROOT, options.entryName ?? DEFAULT_ENTRY_NAME);

/** Creates the report entry (configfs fills it with inblob, outblob, generation, provider) or reuses it. */
async function ensureEntry(entry: string): Promise<void> {
  try {
    await mkdir(entry);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
