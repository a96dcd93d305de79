import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DcapCollateral } from '../../src/attestation/bundle.js';
import { FreshCollateral, pccsCollateralFetcher } from '../../src/attestation/collateral.js';
import { imageHash } from '../../src/attestation/quote.js';
import { verifyTdxQuote } from '../../src/attestation/verify.js';
import { fromHex, toBase64 } from '../../src/bytes.js';
import { TrustCache } from '../../src/client/trust-cache.js';
import type { Logger } from '../../src/log.js';
import {
  fixtureBytes,
  fixtureCollateral,
  TDX_BUNDLE_MODEL,
  TDX_QUOTE_MEASUREMENTS,
  TDX_QUOTE_VALID_AT,
  tdxBundle,
} from './fixtures.js';

const quote = fixtureBytes('tdx_quote');
const collateral = fixtureCollateral('tdx_quote_collateral.json');
/** Another platform's collateral: it does not verify `quote`. */
const otherPlatform = fixtureCollateral('tdx_quote_outdated_collateral.json');
const policy = {
  allowDev: false,
  imageHashes: [imageHash(TDX_QUOTE_MEASUREMENTS)],
  models: [TDX_BUNDLE_MODEL],
  acceptedTcbStatuses: ['UpToDate' as const],
};

/**
 * A PCCS on loopback that answers Intel's PCS v4 API (as dcap-qvl's client asks it) from `served`'s
 * collateral, or 503 while `down`; it records the paths asked.
 */
class FakePccs {
  served: DcapCollateral = collateral;
  down = false;
  /** Takes requests and never answers them. */
  hanging = false;
  readonly asked: string[] = [];
  readonly server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://pccs');
    this.asked.push(url.pathname);
    if (this.hanging) return;
    if (this.down) return void res.writeHead(503).end();
    const c = this.served;
    const chain = (value: string) => encodeURIComponent(value);
    const signed = (field: string, body: string, signature: string) =>
      `{"${field}":${body},"signature":"${signature}"}`;
    switch (url.pathname) {
      case '/sgx/certification/v4/pckcrl':
        res.writeHead(200, { 'SGX-PCK-CRL-Issuer-Chain': chain(c.pck_crl_issuer_chain) });
        return void res.end(fromHex(c.pck_crl));
      case '/sgx/certification/v4/rootcacrl':
        return void res.writeHead(200).end(c.root_ca_crl);
      case '/tdx/certification/v4/tcb':
        res.writeHead(200, { 'TCB-Info-Issuer-Chain': chain(c.tcb_info_issuer_chain) });
        return void res.end(signed('tcbInfo', c.tcb_info, c.tcb_info_signature));
      case '/tdx/certification/v4/qe/identity':
        res.writeHead(200, { 'SGX-Enclave-Identity-Issuer-Chain': chain(c.qe_identity_issuer_chain) });
        return void res.end(signed('enclaveIdentity', c.qe_identity, c.qe_identity_signature));
      default:
        res.writeHead(404).end();
    }
  });

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

const pccs = new FakePccs();
let now = TDX_QUOTE_VALID_AT.getTime();
const clock = { now: () => now };
const warnings: string[] = [];
const log = { warn: (_fields: unknown, message: string) => warnings.push(message) } as unknown as Logger;

beforeAll(async () => {
  await new Promise<void>((resolve) => pccs.server.listen(0, '127.0.0.1', resolve));
});
afterEach(() => {
  pccs.served = collateral;
  pccs.down = false;
  pccs.hanging = false;
  pccs.asked.length = 0;
  warnings.length = 0;
  now = TDX_QUOTE_VALID_AT.getTime();
});
afterAll(async () => {
  pccs.server.closeAllConnections(); // the requests left hanging
  await new Promise((resolve) => pccs.server.close(resolve));
});

const fresh = () =>
  new FreshCollateral(pccsCollateralFetcher(pccs.url), clock, { refreshMs: 60_000, retryMs: 10_000, log });

describe('FreshCollateral', () => {
  it("fetches a quote's collateral from the PCCS, as Intel signed it, and keeps it for the refresh period", async () => {
    const source = fresh();
    const fetched = await source.collateralFor(quote);
    // What the PCCS served, with the quote's own PCK chain attached, and it verifies the quote.
    expect(fetched).toMatchObject(collateral);
    expect(verifyTdxQuote(quote, fetched as DcapCollateral, policy, TDX_QUOTE_VALID_AT).tcbStatus).toBe(
      'UpToDate',
    );
    const requests = pccs.asked.length;
    expect(pccs.asked).toContain('/tdx/certification/v4/tcb');

    now += 59_000;
    expect(await source.collateralFor(quote)).toEqual(fetched);
    expect(pccs.asked).toHaveLength(requests);
    now += 2_000;
    await source.collateralFor(quote);
    expect(pccs.asked).toHaveLength(2 * requests);
  });

  it('has none while the PCCS is down, says so once, and asks again only after the retry period', async () => {
    pccs.down = true;
    const source = fresh();
    expect(await source.collateralFor(quote)).toBeUndefined();
    expect(warnings).toEqual([expect.stringMatching(/^fallback: the collateral service cannot be reached/)]);
    const requests = pccs.asked.length;
    now += 9_000;
    expect(await source.collateralFor(quote)).toBeUndefined();
    expect(pccs.asked).toHaveLength(requests);
    expect(warnings).toHaveLength(1);

    pccs.down = false;
    now += 2_000;
    expect(await source.collateralFor(quote)).toMatchObject(collateral);
  });

  it('gives up on a PCCS that does not answer', async () => {
    pccs.hanging = true;
    const source = new FreshCollateral(pccsCollateralFetcher(pccs.url), clock, { timeoutMs: 200, log });
    expect(await source.collateralFor(quote)).toBeUndefined();
    expect(pccs.asked).toHaveLength(1);
    expect(warnings).toHaveLength(1);
  });
});

describe('a client verifying a TDX worker with collateral it fetched', () => {
  const bundle = (own?: DcapCollateral) =>
    tdxBundle({ evidence: { quote: toBase64(quote), ...(own ? { collateral: own } : {}) } });
  // TTL 0: every verification reads the policy and verifies again (no verdict kept in between).
  const trust = (source?: FreshCollateral) => new TrustCache(async () => policy, 0, clock, source);
  const code = (promise: Promise<unknown>) =>
    promise.then(
      () => 'verified',
      (error: { code?: string }) => error.code,
    );

  it('verifies a bundle that carries no collateral (the proxy stripped it) up to the binding check', async () => {
    expect(await code(trust().verify(bundle()))).toBe('malformed');
    // Every hardware check passed with the fetched collateral; only our keys' binding is left to fail.
    expect(await code(trust(fresh()).verify(bundle()))).toBe('report_data_mismatch');
  });

  it('judges by the collateral it fetched over the one the bundle carries', async () => {
    pccs.served = otherPlatform;
    expect(await code(trust(fresh()).verify(bundle(collateral)))).not.toBe('report_data_mismatch');
    // Without a fetched collateral the bundle's verifies.
    expect(await code(trust().verify(bundle(collateral)))).toBe('report_data_mismatch');
  });

  it('tells which collateral it judges a bundle by (what the app passes on to the Mini App)', async () => {
    expect(await trust(fresh()).collateralFor(bundle(collateral))).toMatchObject(collateral);
    expect(await trust().collateralFor(bundle(collateral))).toBeUndefined();
    const dev = { ...bundle(), kind: 'dev', evidence: { devPublicKey: '03'.repeat(32), signature: 'AA==' } };
    expect(await trust(fresh()).collateralFor(dev)).toBeUndefined();
  });

  it("falls back to the bundle's collateral while the PCCS is down", async () => {
    pccs.down = true;
    expect(await code(trust(fresh()).verify(bundle(collateral)))).toBe('report_data_mismatch');
    expect(warnings).toHaveLength(1);
  });
});
