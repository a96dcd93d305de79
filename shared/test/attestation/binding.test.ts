import { describe, expect, it } from 'vitest';
import { parseTdxQuote } from '../../src/attestation/quote.js';
import { workerReportData } from '../../src/attestation/reportdata.js';
import { checkReportDataBinding } from '../../src/attestation/verify.js';
import { fixtureBytes } from './fixtures.js';

/**
 * verifyAttestation accepts a tdx bundle only if `checkReportDataBinding(quote REPORTDATA, bundle)` passes.
 * No real quote can carry REPORTDATA for claims we choose (that would need Intel's keys or a SHA-512
 * preimage), so the accepting side is tested here on REPORTDATA we compute, and the refusing side on the
 * real quote both here and end to end in verify-tdx.test.ts.
 */
const claims = {
  hpkePublicKey: '3a'.repeat(32),
  signPublicKey: '4b'.repeat(32),
  models: ['01'.repeat(32), 'fe'.repeat(32)],
  notAfter: 1_900_000_000,
};

describe('checkReportDataBinding', () => {
  it('accepts REPORTDATA that commits to exactly these claims', () => {
    expect(() => checkReportDataBinding(workerReportData(claims), claims)).not.toThrow();
  });

  it('refuses the same REPORTDATA for any other keys, models or expiry', () => {
    const reportData = workerReportData(claims);
    const others = [
      { ...claims, hpkePublicKey: '3b'.repeat(32) },
      { ...claims, signPublicKey: '4c'.repeat(32) },
      { ...claims, models: ['01'.repeat(32)] },
      { ...claims, notAfter: claims.notAfter + 86_400 },
    ];
    for (const other of others) {
      expect(() => checkReportDataBinding(reportData, other)).toThrow(
        expect.objectContaining({ code: 'report_data_mismatch' }),
      );
    }
  });

  it('refuses the real quote’s REPORTDATA for our claims', () => {
    const { reportData } = parseTdxQuote(fixtureBytes('tdx_quote'));
    expect(() => checkReportDataBinding(reportData, claims)).toThrow(
      expect.objectContaining({ code: 'report_data_mismatch' }),
    );
  });
});
