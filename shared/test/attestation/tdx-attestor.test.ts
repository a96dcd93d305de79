import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AttestationBundle, type DcapCollateral } from '../../src/attestation/bundle.js';
import { workerReportData } from '../../src/attestation/reportdata.js';
import { TdxAttestor, tdxAvailable } from '../../src/attestation/tdx.js';
import { fromBase64 } from '../../src/bytes.js';
import { fixtureBytes, fixtureCollateral } from './fixtures.js';

const claims = {
  hpkePublicKey: '81'.repeat(32),
  signPublicKey: '92'.repeat(32),
  models: ['a3'.repeat(32)],
  notAfter: 1_900_000_000,
};
const REPORT_DATA_OFFSET = 568;

/**
 * A directory shaped like a configfs-tsm report entry after the kernel answered: the test writes the
 * outblob the "TDX module" will return. Real configfs generates outblob from inblob; here the test
 * prepares it, then checks what the attestor wrote and returned.
 */
let root: string;
let entry: string;

async function simulateEntry(outblob: Uint8Array, provider = 'tdx_guest') {
  await mkdir(entry, { recursive: true });
  await writeFile(join(entry, 'outblob'), outblob);
  await writeFile(join(entry, 'generation'), '1\n');
  await writeFile(join(entry, 'provider'), `${provider}\n`);
}

/** The real quote with its REPORTDATA replaced: the right layout, though its signature no longer verifies. */
function quoteCarrying(reportData: Uint8Array): Uint8Array {
  const quote = fixtureBytes('tdx_quote');
  quote.set(reportData, REPORT_DATA_OFFSET);
  return quote;
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cocoon-tsm-'));
  entry = join(root, 'cocoon-worker');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('TdxAttestor against a simulated configfs-tsm', () => {
  it('writes the 64-byte REPORTDATA to inblob and returns outblob as the bundle’s quote', async () => {
    const outblob = quoteCarrying(workerReportData(claims));
    await simulateEntry(outblob);
    const bundle = await new TdxAttestor({ reportRoot: root }).attest(claims);

    const inblob = new Uint8Array(await readFile(join(entry, 'inblob')));
    expect(inblob).toEqual(workerReportData(claims));
    expect(AttestationBundle.parse(bundle)).toEqual(bundle);
    expect(bundle).toMatchObject({ v: 1, kind: 'tdx', ...claims });
    if (bundle.kind !== 'tdx') throw new Error('expected a tdx bundle');
    expect(fromBase64(bundle.evidence.quote)).toEqual(outblob);
    expect(bundle.evidence.collateral).toBeUndefined();
  });

  it('attaches the collateral its injected fetcher returns for that quote', async () => {
    const outblob = quoteCarrying(workerReportData(claims));
    await simulateEntry(outblob);
    const collateral = fixtureCollateral('tdx_quote_collateral.json');
    const asked: Uint8Array[] = [];
    const fetchCollateral = async (quote: Uint8Array): Promise<DcapCollateral> => {
      asked.push(quote);
      return collateral;
    };
    const bundle = await new TdxAttestor({ reportRoot: root, fetchCollateral }).attest(claims);
    expect(asked).toEqual([outblob]);
    expect(bundle.kind === 'tdx' && bundle.evidence.collateral).toEqual(collateral);
  });

  it('refuses an outblob that does not carry the REPORTDATA it wrote', async () => {
    await simulateEntry(fixtureBytes('tdx_quote'));
    await expect(new TdxAttestor({ reportRoot: root }).attest(claims)).rejects.toThrow(
      expect.objectContaining({ code: 'report_data_mismatch' }),
    );
  });

  it('refuses an outblob that is not a TDX quote', async () => {
    await simulateEntry(fixtureBytes('sgx_quote'));
    await expect(new TdxAttestor({ reportRoot: root }).attest(claims)).rejects.toThrow(
      expect.objectContaining({ code: 'malformed' }),
    );
  });

  it('creates its entry when missing, and explains a failure to read the quote', async () => {
    const attestor = new TdxAttestor({ reportRoot: root, entryName: 'fresh' });
    await expect(attestor.attest(claims)).rejects.toThrow(/configfs-tsm quote generation failed at .*fresh/);
    expect(new Uint8Array(await readFile(join(root, 'fresh', 'inblob')))).toEqual(workerReportData(claims));
  });

  it('checks each of several concurrent requests against its own REPORTDATA', async () => {
    await simulateEntry(quoteCarrying(workerReportData(claims)));
    const attestor = new TdxAttestor({ reportRoot: root });
    const other = { ...claims, notAfter: claims.notAfter + 1 };
    const results = await Promise.allSettled([attestor.attest(claims), attestor.attest(other)]);
    // The simulated module answers only the first claims; the second request must not get that quote.
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect(new Uint8Array(await readFile(join(entry, 'inblob')))).toEqual(workerReportData(other));
  });

  it('refuses REPORTDATA that is not 64 bytes', async () => {
    await expect(new TdxAttestor({ reportRoot: root }).quote(new Uint8Array(32))).rejects.toThrow(RangeError);
  });
});

describe('tdxAvailable', () => {
  it('says no when configfs-tsm is absent', async () => {
    const result = await tdxAvailable({ reportRoot: join(root, 'absent') });
    expect(result).toMatchObject({ available: false, detail: expect.stringContaining('missing') });
  });

  it('says yes only for the tdx_guest provider', async () => {
    await simulateEntry(new Uint8Array(0));
    expect(await tdxAvailable({ reportRoot: root })).toMatchObject({ available: true });
    await writeFile(join(entry, 'provider'), 'sev_guest\n');
    expect(await tdxAvailable({ reportRoot: root })).toMatchObject({
      available: false,
      detail: expect.stringContaining('sev_guest'),
    });
  });

  it('says no, with the reason, when the provider cannot be read', async () => {
    await mkdir(root, { recursive: true });
    const result = await tdxAvailable({ reportRoot: root, entryName: 'probe' });
    expect(result).toMatchObject({ available: false, detail: expect.stringContaining('ENOENT') });
  });
});
