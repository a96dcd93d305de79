import { describe, expect, it } from 'vitest';
import { AttestationBundle, collateralFromDcap } from '../../src/attestation/bundle.js';
import { AttestationError, attestationErrorFromDcap } from '../../src/attestation/errors.js';
import { imageHash, parseTdxQuote } from '../../src/attestation/quote.js';
import { verifyTdxQuote } from '../../src/attestation/verify.js';
import { fromHex, toBase64 } from '../../src/bytes.js';
import { fixtureBytes, fixtureCollateral, TDX_QUOTE_VALID_AT } from './fixtures.js';

const claims = {
  v: 1,
  hpkePublicKey: '10'.repeat(32),
  signPublicKey: '20'.repeat(32),
  models: ['30'.repeat(32)],
  notAfter: 1_900_000_000,
};

describe('AttestationBundle', () => {
  it('tells tdx and dev evidence apart by kind', () => {
    const dev = {
      ...claims,
      kind: 'dev',
      evidence: { devPublicKey: '40'.repeat(32), signature: toBase64(new Uint8Array(64)) },
    };
    const tdx = { ...claims, kind: 'tdx', evidence: { quote: toBase64(fixtureBytes('tdx_quote')) } };
    expect(AttestationBundle.parse(dev)).toEqual(dev);
    expect(AttestationBundle.parse(tdx)).toEqual(tdx);
    expect(AttestationBundle.safeParse({ ...dev, kind: 'tdx' }).success).toBe(false);
    expect(AttestationBundle.safeParse({ ...tdx, kind: 'sev' }).success).toBe(false);
    expect(AttestationBundle.safeParse({ ...tdx, v: 2 }).success).toBe(false);
    expect(AttestationBundle.safeParse({ ...tdx, models: ['30'.repeat(32), '30'.repeat(32)] }).success).toBe(
      false,
    );
  });
});

describe('collateralFromDcap', () => {
  it('turns dcap-qvl’s getCollateral shape (byte arrays) into the wire form, which still verifies', () => {
    const wire = fixtureCollateral('tdx_quote_collateral.json');
    const asFetched = {
      ...wire,
      root_ca_crl: Array.from(fromHex(wire.root_ca_crl)),
      pck_crl: Array.from(fromHex(wire.pck_crl)),
      tcb_info_signature: Array.from(fromHex(wire.tcb_info_signature)),
      qe_identity_signature: Array.from(fromHex(wire.qe_identity_signature)),
      pck_certificate_chain: null,
    };
    const converted = collateralFromDcap(asFetched);
    expect(converted).toEqual(wire);
    const quote = fixtureBytes('tdx_quote');
    const policy = {
      allowDev: false,
      imageHashes: [imageHash(parseTdxQuote(quote).measurements)],
      models: [],
    };
    expect(verifyTdxQuote(quote, converted, policy, TDX_QUOTE_VALID_AT).tcbStatus).toBe('UpToDate');
  });
});

describe('attestationErrorFromDcap', () => {
  it.each([
    ['TCBInfo expired', 'collateral_expired'],
    ['QE Identity issue date is in the future', 'collateral_expired'],
    ['Certificate is expired or not yet valid', 'collateral_expired'],
    ['TCB status is invalid: Revoked', 'tcb_not_accepted'],
    ['No matching TCB level found', 'tcb_not_accepted'],
    ['QE ISVSVN 2 is below minimum required 8 from QE Identity', 'tcb_not_accepted'],
    ['Failed to decode quote', 'malformed'],
    ['Unsupported DCAP quote version', 'malformed'],
    ['ISV enclave report signature is invalid', 'quote_invalid'],
    ['Certificate is revoked', 'quote_invalid'],
    ['Debug mode is enabled', 'quote_invalid'],
    ['something new in a later dcap-qvl', 'quote_invalid'],
  ])('maps "%s" to %s, keeping the cause', (message, code) => {
    const cause = new Error(message);
    const mapped = attestationErrorFromDcap(cause);
    expect(mapped).toBeInstanceOf(AttestationError);
    expect(mapped).toMatchObject({ code, cause });
    expect(mapped.message).toContain(message);
  });
});
