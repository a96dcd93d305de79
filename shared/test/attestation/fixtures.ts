import { readFileSync } from 'node:fs';
import { type AttestationBundle, DcapCollateral } from '../../src/attestation/bundle.js';
import { toBase64 } from '../../src/bytes.js';

/** Real Intel DCAP vectors from Phala-Network/dcap-qvl; provenance in test/fixtures/tdx/README.md. */
const fixturePath = (name: string) => new URL(`../fixtures/tdx/${name}`, import.meta.url);

export const fixtureBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(fixturePath(name)));

export const fixtureCollateral = (name: string): DcapCollateral =>
  DcapCollateral.parse(JSON.parse(readFileSync(fixturePath(name), 'utf8')));

/** Inside tdx_quote_collateral.json's window (TCB info 2025-06-19T10:16:03Z to 2025-07-19T10:16:03Z). */
export const TDX_QUOTE_VALID_AT = new Date('2025-07-01T00:00:00Z');
/** Inside tdx_quote_outdated_collateral.json's window (2026-02-18T10:58:51Z to 2026-03-20T10:58:51Z). */
export const OUTDATED_QUOTE_VALID_AT = new Date('2026-03-01T00:00:00Z');

/** What tdx_quote carries, as read by a separate parser (dcap-qvl's own) and by hand from the hex. */
export const TDX_QUOTE_MEASUREMENTS = {
  mrtd: '91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7',
  rtmr0: '44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0',
  rtmr1: '0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378',
  rtmr2: 'd833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132',
  rtmr3: '0'.repeat(96),
};
export const TDX_QUOTE_REPORT_DATA =
  '9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20';

/** The model the bundles below claim. */
export const TDX_BUNDLE_MODEL = 'ab'.repeat(32);

/**
 * A bundle around the real tdx_quote, with its collateral. Its keys are ours, so its REPORTDATA cannot match:
 * the binding check, the last one, refuses it (see the binding tests).
 */
export function tdxBundle(overrides: Partial<AttestationBundle> = {}): AttestationBundle {
  return {
    v: 1,
    kind: 'tdx',
    hpkePublicKey: '01'.repeat(32),
    signPublicKey: '02'.repeat(32),
    models: [TDX_BUNDLE_MODEL],
    notAfter: Math.floor(Date.now() / 1000) + 3600,
    evidence: {
      quote: toBase64(fixtureBytes('tdx_quote')),
      collateral: fixtureCollateral('tdx_quote_collateral.json'),
    },
    ...overrides,
  } as AttestationBundle;
}
