import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { workerReportData } from '../../src/attestation/reportdata.js';
import { toHex } from '../../src/bytes.js';

const claims = {
  hpkePublicKey: '11'.repeat(32),
  signPublicKey: '22'.repeat(32),
  models: ['0a'.repeat(32), 'b0'.repeat(32)],
  notAfter: 1_751_328_000,
};

describe('workerReportData', () => {
  it('is SHA-512(domain ‖ hpkePub ‖ signPub ‖ SHA-256(models) ‖ notAfter u64 BE), computed independently', () => {
    const modelsDigest = createHash('sha256')
      .update(Buffer.from(claims.models.join(''), 'hex'))
      .digest();
    const notAfter = Buffer.alloc(8);
    notAfter.writeBigUInt64BE(BigInt(claims.notAfter));
    const expected = createHash('sha512')
      .update('cocoon/worker/v1')
      .update(Buffer.from(claims.hpkePublicKey, 'hex'))
      .update(Buffer.from(claims.signPublicKey, 'hex'))
      .update(modelsDigest)
      .update(notAfter)
      .digest('hex');
    const reportData = workerReportData(claims);
    expect(reportData).toHaveLength(64);
    expect(toHex(reportData)).toBe(expected);
  });

  it('changes when any claim changes', () => {
    const base = toHex(workerReportData(claims));
    const variants = [
      { ...claims, hpkePublicKey: '12'.repeat(32) },
      { ...claims, signPublicKey: '23'.repeat(32) },
      { ...claims, models: ['0a'.repeat(32)] },
      { ...claims, notAfter: claims.notAfter + 1 },
      // Keys swapped: fixed positions keep the two keys apart.
      { ...claims, hpkePublicKey: claims.signPublicKey, signPublicKey: claims.hpkePublicKey },
    ];
    for (const variant of variants) expect(toHex(workerReportData(variant))).not.toBe(base);
  });

  it('refuses unsorted, duplicate or malformed claims instead of hashing a second encoding', () => {
    const refused = [
      { ...claims, models: [...claims.models].reverse() },
      { ...claims, models: [claims.models[0] as string, claims.models[0] as string] },
      { ...claims, models: [] },
      { ...claims, hpkePublicKey: 'AB'.repeat(32) },
      { ...claims, notAfter: -1 },
    ];
    for (const variant of refused) {
      expect(() => workerReportData(variant)).toThrow(expect.objectContaining({ code: 'malformed' }));
    }
  });
});
