import { createHash } from 'node:crypto';
import { Quote } from '@phala/dcap-qvl';
import { describe, expect, it } from 'vitest';
import { AttestationError } from '../../src/attestation/errors.js';
import { imageHash, parseTdxQuote } from '../../src/attestation/quote.js';
import { toHex } from '../../src/bytes.js';
import { fixtureBytes, TDX_QUOTE_MEASUREMENTS, TDX_QUOTE_REPORT_DATA } from './fixtures.js';

describe('parseTdxQuote', () => {
  it('reads MRTD, RTMR0..3 and REPORTDATA from a real v4 quote', () => {
    const report = parseTdxQuote(fixtureBytes('tdx_quote'));
    expect(report.version).toBe(4);
    expect(report.measurements).toEqual(TDX_QUOTE_MEASUREMENTS);
    expect(toHex(report.reportData)).toBe(TDX_QUOTE_REPORT_DATA);
  });

  it.each(['tdx_quote', 'tdx_quote_outdated'])('agrees with dcap-qvl’s parser on %s (v4 and v5)', (name) => {
    const bytes = fixtureBytes(name);
    const theirs = Quote.parse(bytes).report;
    const td = theirs.asTd10() ?? theirs.asTd15()?.base;
    if (!td) throw new Error('not a TD report');
    const ours = parseTdxQuote(bytes);
    expect(ours.measurements).toEqual({
      mrtd: toHex(td.mrTd),
      rtmr0: toHex(td.rtMr0),
      rtmr1: toHex(td.rtMr1),
      rtmr2: toHex(td.rtMr2),
      rtmr3: toHex(td.rtMr3),
    });
    expect(toHex(ours.reportData)).toBe(toHex(td.reportData));
  });

  it('refuses SGX quotes and truncated input as malformed', () => {
    for (const bytes of [fixtureBytes('sgx_quote'), fixtureBytes('tdx_quote').subarray(0, 600)]) {
      expect(() => parseTdxQuote(bytes)).toThrow(
        expect.objectContaining({ name: 'AttestationError', code: 'malformed' }),
      );
    }
  });
});

describe('imageHash', () => {
  it('is SHA-256 of MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3', () => {
    const m = TDX_QUOTE_MEASUREMENTS;
    const expected = createHash('sha256')
      .update(Buffer.from(m.mrtd + m.rtmr0 + m.rtmr1 + m.rtmr2 + m.rtmr3, 'hex'))
      .digest('hex');
    expect(imageHash(m)).toBe(expected);
    expect(imageHash({ ...m, rtmr3: `01${m.rtmr3.slice(2)}` })).not.toBe(expected);
  });

  it('refuses a measurement that is not 48 bytes of hex', () => {
    expect(() => imageHash({ ...TDX_QUOTE_MEASUREMENTS, rtmr1: 'ab' })).toThrow(AttestationError);
  });
});
