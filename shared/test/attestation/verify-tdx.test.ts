import { createHash } from 'node:crypto';
import { constants, verify as dcapVerify } from '@phala/dcap-qvl';
import { describe, expect, it } from 'vitest';
import type { AttestationErrorCode } from '../../src/attestation/errors.js';
import { imageHash } from '../../src/attestation/quote.js';
import { type TcbStatus, verifyAttestation, verifyTdxQuote } from '../../src/attestation/verify.js';
import { toBase64, toHex } from '../../src/bytes.js';
import {
  fixtureBytes,
  fixtureCollateral,
  OUTDATED_QUOTE_VALID_AT,
  TDX_BUNDLE_MODEL,
  TDX_QUOTE_MEASUREMENTS,
  TDX_QUOTE_REPORT_DATA,
  TDX_QUOTE_VALID_AT,
  tdxBundle,
} from './fixtures.js';

const quote = fixtureBytes('tdx_quote');
const collateral = fixtureCollateral('tdx_quote_collateral.json');
const IMAGE = imageHash(TDX_QUOTE_MEASUREMENTS);
const MODEL = TDX_BUNDLE_MODEL;
const policy = { allowDev: false, imageHashes: [IMAGE], models: [MODEL] };

const rejection = (code: AttestationErrorCode) => expect.objectContaining({ name: 'AttestationError', code });

describe('fixtures', () => {
  it('are the upstream bytes, and dcap-qvl embeds the same Intel root CA', () => {
    const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    expect(sha256(quote)).toBe('c42f9164325024bca2757bc8819b11879a0a369132ea4e2b7c85df4805ea72db');
    expect(sha256(fixtureBytes('tdx_quote_collateral.json'))).toBe(
      'b0a5f5fd620a8881b1eda45261fdf30dd930b49aff93231556645c81fcb4c0bc',
    );
    expect(sha256(fixtureBytes('tdx_quote_outdated_collateral.json'))).toBe(
      '05e91466e56352166c15a73654147c3d95d6f4ffa62bd150c3c8cbb1d75c3b15',
    );
    expect(sha256(constants.TRUSTED_ROOT_CA_DER)).toBe(sha256(fixtureBytes('TrustedRootCA.der')));
  });
});

describe('verifyTdxQuote (real Intel quote and collateral)', () => {
  it('accepts the quote at 2025-07-01 with its measurements, TCB status and collateral window', () => {
    const verified = verifyTdxQuote(quote, collateral, policy, TDX_QUOTE_VALID_AT);
    expect(verified).toMatchObject({
      imageHash: IMAGE,
      measurements: TDX_QUOTE_MEASUREMENTS,
      tcbStatus: 'UpToDate',
      advisoryIds: [],
      // The earliest nextUpdate: PCK CRL 10:00:35, TCB info 10:16:03, QE identity 10:32:27 (2025-07-19).
      collateralValidUntil: Date.parse('2025-07-19T10:00:35Z') / 1000,
    });
    expect(toHex(verified.reportData)).toBe(TDX_QUOTE_REPORT_DATA);
  });

  it('takes the time as seconds too', () => {
    const seconds = TDX_QUOTE_VALID_AT.getTime() / 1000;
    expect(verifyTdxQuote(quote, collateral, policy, seconds).tcbStatus).toBe('UpToDate');
  });

  it('refuses the collateral once it has expired (today)', () => {
    expect(() => verifyTdxQuote(quote, collateral, policy, new Date())).toThrow(
      rejection('collateral_expired'),
    );
  });

  it('refuses the collateral before it was issued', () => {
    const before = new Date('2025-06-01T00:00:00Z');
    expect(() => verifyTdxQuote(quote, collateral, policy, before)).toThrow(rejection('collateral_expired'));
  });

  it('refuses a stale PCK CRL even while dcap-qvl still accepts the rest', () => {
    const between = new Date('2025-07-19T10:05:00Z'); // after the PCK CRL's nextUpdate, before TCB info's
    expect(dcapVerify(quote, collateral, between.getTime() / 1000).status).toBe('UpToDate');
    expect(() => verifyTdxQuote(quote, collateral, policy, between)).toThrow(
      expect.objectContaining({
        code: 'collateral_expired',
        message: expect.stringContaining('PCK CRL expired'),
      }),
    );
  });

  it('refuses a PCK CRL not signed by the PCK issuer, which would hide revocations', () => {
    // A proxy swaps in another valid Intel CRL (the root CA's, which lists no PCK): dcap-qvl 0.3.9 alone
    // does not check who signed a CRL, so it accepts; checkCrls does not.
    const swapped = { ...collateral, pck_crl: collateral.root_ca_crl };
    expect(dcapVerify(quote, swapped, TDX_QUOTE_VALID_AT.getTime() / 1000).status).toBe('UpToDate');
    expect(() => verifyTdxQuote(quote, swapped, policy, TDX_QUOTE_VALID_AT)).toThrow(
      expect.objectContaining({ code: 'quote_invalid', message: expect.stringContaining('PCK CRL') }),
    );
    const garbage = { ...collateral, pck_crl: '3000' };
    expect(() => verifyTdxQuote(quote, garbage, policy, TDX_QUOTE_VALID_AT)).toThrow(rejection('malformed'));
  });

  it('refuses an image hash the policy does not list', () => {
    const other = { ...policy, imageHashes: ['00'.repeat(32)] };
    expect(() => verifyTdxQuote(quote, collateral, other, TDX_QUOTE_VALID_AT)).toThrow(
      rejection('measurement_not_allowed'),
    );
  });

  it.each([
    ['header', 10],
    ['MRTD', 184],
    ['RTMR3', 520],
    ['REPORTDATA', 570],
    ['ECDSA signature', 700],
  ])('refuses a quote with a flipped byte in its %s', (_, offset) => {
    const tampered = quote.slice();
    tampered[offset] = (tampered[offset] as number) ^ 1;
    expect(() => verifyTdxQuote(tampered, collateral, policy, TDX_QUOTE_VALID_AT)).toThrow(
      rejection('quote_invalid'),
    );
  });

  it('refuses collateral whose signed TCB info was edited', () => {
    const edited = { ...collateral, tcb_info: collateral.tcb_info.replace('"OutOfDate"', '"UpToDate"') };
    expect(edited.tcb_info).not.toBe(collateral.tcb_info);
    expect(() => verifyTdxQuote(quote, edited, policy, TDX_QUOTE_VALID_AT)).toThrow(
      rejection('quote_invalid'),
    );
  });

  it('refuses another platform’s collateral', () => {
    const other = fixtureCollateral('tdx_quote_outdated_collateral.json');
    expect(() => verifyTdxQuote(quote, other, policy, OUTDATED_QUOTE_VALID_AT)).toThrow(
      rejection('quote_invalid'),
    );
  });

  it('refuses the out-of-date platform, whatever statuses the policy accepts', () => {
    // dcap-qvl 0.3.9 finds no TCB level at or below this platform's CPUSVN ("No matching TCB level
    // found"), so it returns no status for a policy to accept: see test/fixtures/tdx/README.md.
    const outdated = fixtureBytes('tdx_quote_outdated');
    const outdatedCollateral = fixtureCollateral('tdx_quote_outdated_collateral.json');
    const lenient = { ...policy, acceptedTcbStatuses: ['UpToDate', 'OutOfDate'] satisfies TcbStatus[] };
    for (const p of [policy, lenient]) {
      expect(() => verifyTdxQuote(outdated, outdatedCollateral, p, OUTDATED_QUOTE_VALID_AT)).toThrow(
        rejection('tcb_not_accepted'),
      );
    }
  });

  it('applies the TCB policy to a real non-UpToDate status (the SGX vector)', () => {
    // The only real vector with a status other than UpToDate is SGX. The TCB gate runs before the TD report
    // is read, so the default policy refuses it for its TCB, and a policy accepting that status passes the
    // gate and stops only at "not a TDX quote".
    const sgx = fixtureBytes('sgx_quote');
    const sgxCollateral = fixtureCollateral('sgx_quote_collateral.json');
    expect(() => verifyTdxQuote(sgx, sgxCollateral, policy, TDX_QUOTE_VALID_AT)).toThrow(
      expect.objectContaining({
        code: 'tcb_not_accepted',
        message: expect.stringContaining('ConfigurationAndSWHardeningNeeded'),
      }),
    );
    const lenient = {
      ...policy,
      acceptedTcbStatuses: ['ConfigurationAndSWHardeningNeeded'] satisfies TcbStatus[],
    };
    expect(() => verifyTdxQuote(sgx, sgxCollateral, lenient, TDX_QUOTE_VALID_AT)).toThrow(
      expect.objectContaining({ code: 'malformed', message: expect.stringContaining('not a TDX quote') }),
    );
  });
});

describe('verifyAttestation of a tdx bundle', () => {
  it('passes every hardware check on the real quote, then refuses keys the quote does not bind', async () => {
    // We cannot forge a quote, so a bundle with our own keys must stop exactly here: past dcap-qvl, the
    // TCB gate and the image allowlist. The accepting side of this comparison is checked in binding.test.ts.
    await expect(verifyAttestation(tdxBundle(), policy, TDX_QUOTE_VALID_AT)).rejects.toThrow(
      rejection('report_data_mismatch'),
    );
  });

  it('refuses models outside the policy once the quote has passed', async () => {
    const bundle = tdxBundle({ models: ['cd'.repeat(32), MODEL].sort() });
    await expect(verifyAttestation(bundle, policy, TDX_QUOTE_VALID_AT)).rejects.toThrow(
      expect.objectContaining({
        code: 'model_not_allowed',
        message: expect.stringContaining('cd'.repeat(32)),
      }),
    );
  });

  it('maps each quote-level failure through', async () => {
    await expect(verifyAttestation(tdxBundle(), policy, new Date())).rejects.toThrow(
      rejection('collateral_expired'),
    );
    const noImage = { ...policy, imageHashes: [] };
    await expect(verifyAttestation(tdxBundle(), noImage, TDX_QUOTE_VALID_AT)).rejects.toThrow(
      rejection('measurement_not_allowed'),
    );
  });

  it('needs collateral from the bundle or the verifier', async () => {
    const bare = tdxBundle({ evidence: { quote: toBase64(quote) } });
    await expect(verifyAttestation(bare, policy, TDX_QUOTE_VALID_AT)).rejects.toThrow(rejection('malformed'));
    await expect(verifyAttestation(bare, policy, TDX_QUOTE_VALID_AT, { collateral })).rejects.toThrow(
      rejection('report_data_mismatch'),
    );
  });

  it('refuses malformed bundles and policies before any crypto', async () => {
    const unsorted = tdxBundle({ models: ['ff'.repeat(32), 'aa'.repeat(32)] });
    await expect(verifyAttestation(unsorted, policy, TDX_QUOTE_VALID_AT)).rejects.toThrow(
      rejection('malformed'),
    );
    const badPolicy = { ...policy, acceptedTcbStatuses: ['Revoked'] } as unknown as typeof policy;
    await expect(verifyAttestation(tdxBundle(), badPolicy, TDX_QUOTE_VALID_AT)).rejects.toThrow(
      rejection('malformed'),
    );
    await expect(verifyAttestation(tdxBundle(), policy, Number.NaN)).rejects.toThrow(rejection('malformed'));
  });
});
