import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AttestationBundle, DcapCollateral, WorkerClaims } from '../../src/attestation/bundle.js';
import { DevAttestor } from '../../src/attestation/dev.js';
import { AttestationError, type AttestationErrorCode } from '../../src/attestation/errors.js';
import { imageHash } from '../../src/attestation/quote.js';
import { verifyAttestation, verifyTdxQuote } from '../../src/attestation/verify.js';
import { fromBase64, fromHex, toBase64, toHex, utf8 } from '../../src/bytes.js';
import {
  fixtureBytes,
  fixtureCollateral,
  TDX_QUOTE_MEASUREMENTS,
  TDX_QUOTE_VALID_AT,
} from '../attestation/fixtures.js';
import {
  type ByteMutation,
  byteFlips,
  byteMutation,
  hexOf,
  mutateBytes,
  rejection,
  runs,
  timeoutFor,
} from './support.js';

const NOW = 1_800_000_000;

async function refusal(action: () => Promise<unknown>, what: string): Promise<AttestationErrorCode> {
  const error = await rejection(action, what);
  expect(error).toBeInstanceOf(AttestationError);
  return (error as AttestationError).code;
}

// ---------------------------------------------------------------------------------------------------------
// Dev bundles: signed by a local key; the signature covers REPORTDATA of every claim.

const claimsArb: fc.Arbitrary<WorkerClaims> = fc.record({
  hpkePublicKey: hexOf(32),
  signPublicKey: hexOf(32),
  models: fc.uniqueArray(hexOf(32), { minLength: 1, maxLength: 4 }).map((models) => models.sort()),
  notAfter: fc.integer({ min: NOW + 1, max: NOW + 10 ** 9 }),
});

const devBundleArb = fc
  .tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), claimsArb)
  .map(([seed, claims]) => ({ attestor: new DevAttestor(seed), claims }));

type DevMutation =
  | { kind: 'key'; field: 'hpkePublicKey' | 'signPublicKey' | 'devPublicKey'; value: string }
  | { kind: 'models'; change: 'add' | 'drop' | 'replace' | 'unsort'; model: string; at: number }
  | { kind: 'notAfter'; value: number }
  | { kind: 'signature'; mutation: ByteMutation }
  | { kind: 'field'; field: 'v' | 'kind' | 'evidence' | 'models' | 'notAfter'; value: unknown };

const devMutationArb: fc.Arbitrary<DevMutation> = fc.oneof(
  fc.record({
    kind: fc.constant('key' as const),
    field: fc.constantFrom('hpkePublicKey' as const, 'signPublicKey' as const, 'devPublicKey' as const),
    value: hexOf(32),
  }),
  fc.record({
    kind: fc.constant('models' as const),
    change: fc.constantFrom('add' as const, 'drop' as const, 'replace' as const, 'unsort' as const),
    model: hexOf(32),
    at: fc.nat(),
  }),
  fc.record({ kind: fc.constant('notAfter' as const), value: fc.integer({ min: 0, max: 2 ** 40 }) }),
  fc.record({ kind: fc.constant('signature' as const), mutation: byteMutation }),
  fc.record({
    kind: fc.constant('field' as const),
    field: fc.constantFrom(
      'v' as const,
      'kind' as const,
      'evidence' as const,
      'models' as const,
      'notAfter' as const,
    ),
    value: fc.oneof(fc.jsonValue(), fc.constantFrom('tdx', 'dev', 2, 0)),
  }),
);

/** The mutated bundle, or undefined when the mutation happens to change nothing. */
function mutateDev(bundle: AttestationBundle, mutation: DevMutation): unknown {
  if (bundle.kind !== 'dev') throw new Error('expected a dev bundle');
  const out = structuredClone(bundle);
  switch (mutation.kind) {
    case 'key':
      if (mutation.field === 'devPublicKey') {
        if (out.evidence.devPublicKey === mutation.value) return undefined;
        out.evidence.devPublicKey = mutation.value;
      } else {
        if (out[mutation.field] === mutation.value) return undefined;
        out[mutation.field] = mutation.value;
      }
      return out;
    case 'models': {
      const models = [...out.models];
      const at = mutation.at % models.length;
      if (models.includes(mutation.model) && mutation.change !== 'drop' && mutation.change !== 'unsort')
        return undefined;
      if (mutation.change === 'add') models.push(mutation.model);
      if (mutation.change === 'drop') models.splice(at, 1);
      if (mutation.change === 'replace') models[at] = mutation.model;
      if (mutation.change === 'unsort') {
        if (models.length < 2) return undefined;
        models.reverse();
      } else {
        models.sort();
      }
      out.models = models;
      return out;
    }
    case 'notAfter':
      if (mutation.value === out.notAfter) return undefined;
      out.notAfter = mutation.value;
      return out;
    case 'signature':
      out.evidence.signature = toBase64(mutateBytes(fromBase64(out.evidence.signature), mutation.mutation));
      return out;
    case 'field':
      if (JSON.stringify(mutation.value) === JSON.stringify(out[mutation.field])) return undefined;
      return { ...out, [mutation.field]: mutation.value };
  }
}

describe('attestation bundles: dev', () => {
  it(
    'a genuine dev bundle verifies only under a policy that allows dev, all its models, before notAfter',
    async () => {
      await fc.assert(
        fc.asyncProperty(devBundleArb, hexOf(32), async ({ attestor, claims }, stranger) => {
          fc.pre(!claims.models.includes(stranger));
          const bundle = await attestor.attest(claims);
          const policy = { allowDev: true, imageHashes: [], models: [...claims.models, stranger] };
          const verified = await verifyAttestation(bundle, policy, NOW);
          expect(verified).toMatchObject({ ...claims, kind: 'dev', secure: false });
          const refused = (p: typeof policy, at: number) =>
            refusal(() => verifyAttestation(bundle, p, at), 'bundle');
          expect(await refused({ ...policy, allowDev: false }, NOW)).toBe('dev_not_allowed');
          expect(await refused({ ...policy, models: claims.models.slice(1) }, NOW)).toBe('model_not_allowed');
          expect(await refused(policy, claims.notAfter + 1)).toBe('bundle_expired');
        }),
        runs(60),
      );
    },
    timeoutFor(5),
  );

  it(
    'a mutated dev bundle is refused with an AttestationError, whatever the policy allows',
    async () => {
      await fc.assert(
        fc.asyncProperty(devBundleArb, devMutationArb, async ({ attestor, claims }, mutation) => {
          const bundle = await attestor.attest(claims);
          const mutated = mutateDev(bundle, mutation);
          fc.pre(mutated !== undefined);
          // Whatever models the mutation brings in are allowed: the refusal must come from the evidence.
          const extra = mutation.kind === 'models' ? [mutation.model] : [];
          const policy = { allowDev: true, imageHashes: [], models: [...claims.models, ...extra] };
          const code = await refusal(
            () => verifyAttestation(mutated as never, policy, NOW),
            'a mutated bundle',
          );
          expect(['signature_invalid', 'malformed']).toContain(code);
        }),
        runs(200),
      );
    },
    timeoutFor(5),
  );

  it(
    'random JSON, or random bundle-shaped values, are refused with an AttestationError',
    async () => {
      const shaped = fc.record({
        v: fc.constantFrom(1, 2),
        kind: fc.constantFrom('dev', 'tdx', 'sev'),
        hpkePublicKey: hexOf(32),
        signPublicKey: hexOf(32),
        models: fc.array(hexOf(32), { maxLength: 3 }),
        notAfter: fc.integer({ min: 0, max: 2 ** 40 }),
        evidence: fc.oneof(
          fc.record({
            devPublicKey: hexOf(32),
            signature: fc.uint8Array({ minLength: 64, maxLength: 64 }).map(toBase64),
          }),
          fc.record({ quote: fc.uint8Array({ maxLength: 2000 }).map(toBase64) }),
          fc.jsonValue(),
        ),
      });
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.jsonValue(), shaped), async (value) => {
          const policy = { allowDev: true, imageHashes: [], models: [] };
          await refusal(() => verifyAttestation(value as never, policy, NOW), 'random input');
        }),
        runs(300),
      );
    },
    timeoutFor(5),
  );
});

// ---------------------------------------------------------------------------------------------------------
// TDX: a real Intel quote and its collateral (test/fixtures/tdx).

const quote = fixtureBytes('tdx_quote');
const collateral = fixtureCollateral('tdx_quote_collateral.json');
const tdxPolicy = { allowDev: false, imageHashes: [imageHash(TDX_QUOTE_MEASUREMENTS)], models: [] };
const genuine = verifyTdxQuote(quote, collateral, tdxPolicy, TDX_QUOTE_VALID_AT);

/**
 * The bytes of a v4 quote that signatures cover (Intel TDX DCAP Quoting Library API, appendix 3): header
 * and TD report (signed by the attestation key), that signature and key, then the QE report, its PCK
 * signature and the QE authentication data (bound by the QE report's REPORTDATA). The certification data
 * after them is the PCK chain, checked by its own signatures up to Intel's root.
 */
function signedPositions(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const SIGNED_BODY_END = 48 + 584;
  const SIGNATURE_AND_KEY = { start: SIGNED_BODY_END + 4, end: SIGNED_BODY_END + 4 + 128 };
  const QE_REPORT_START = SIGNATURE_AND_KEY.end + 6;
  const QE_AUTH_LENGTH_AT = QE_REPORT_START + 384 + 64;
  const qeAuthEnd = QE_AUTH_LENGTH_AT + 2 + view.getUint16(QE_AUTH_LENGTH_AT, true);
  const range = (start: number, end: number) => Array.from({ length: end - start }, (_, i) => start + i);
  return [
    ...range(0, SIGNED_BODY_END),
    ...range(SIGNATURE_AND_KEY.start, SIGNATURE_AND_KEY.end),
    ...range(QE_REPORT_START, qeAuthEnd),
  ];
}
const SIGNED = signedPositions(quote);

/** Refused, or (for bytes no signature covers) accepted as exactly the genuine quote: never another claim. */
function refusedOrUnchanged(mutatedQuote: Uint8Array, mutatedCollateral: DcapCollateral): void {
  let verified: ReturnType<typeof verifyTdxQuote>;
  try {
    verified = verifyTdxQuote(mutatedQuote, mutatedCollateral, tdxPolicy, TDX_QUOTE_VALID_AT);
  } catch (error) {
    expect(error).toBeInstanceOf(AttestationError);
    return;
  }
  expect(verified).toEqual(genuine);
}

describe('attestation: mutated real TDX quotes', () => {
  it('the genuine quote verifies, and the signed regions cover its measurements and REPORTDATA', () => {
    expect(genuine.tcbStatus).toBe('UpToDate');
    expect(SIGNED).toContain(48 + 520);
    expect(SIGNED.length).toBeGreaterThan(1000);
  });

  it('a PCK chain that is not UTF-8 is refused as malformed (found by the property below)', async () => {
    // dcap-qvl skips the newline before the chain's copy of Intel's root; a non-UTF-8 byte there reached
    // checkCrls' strict decoder and escaped as a TypeError.
    const newline = Buffer.from(quote).lastIndexOf('-----BEGIN CERTIFICATE-----') - 1;
    const mutated = mutateBytes(quote, { kind: 'flip', edits: [{ at: newline, mask: 0x80 }] });
    const code = await refusal(
      async () => verifyTdxQuote(mutated, collateral, tdxPolicy, TDX_QUOTE_VALID_AT),
      'a non-UTF-8 chain',
    );
    expect(code).toBe('malformed');
  });

  it(
    'any change to the signed bytes of the quote is refused with an AttestationError',
    async () => {
      await fc.assert(
        fc.asyncProperty(byteFlips, async (mutation) => {
          const mutated = mutateBytes(quote, mutation, SIGNED);
          await refusal(
            async () => verifyTdxQuote(mutated, collateral, tdxPolicy, TDX_QUOTE_VALID_AT),
            'a quote with changed signed bytes',
          );
        }),
        runs(40),
      );
    },
    timeoutFor(60),
  );

  it(
    'any change anywhere (flips, cuts, insertions) is refused, or accepted as the very same claims',
    () => {
      fc.assert(
        fc.property(byteMutation, (mutation) => refusedOrUnchanged(mutateBytes(quote, mutation), collateral)),
        runs(40),
      );
    },
    timeoutFor(60),
  );

  it(
    'any change to signed collateral (TCB info, QE identity, their signatures, CRLs) is refused',
    async () => {
      const fields = [
        'tcb_info',
        'qe_identity',
        'tcb_info_signature',
        'qe_identity_signature',
        'root_ca_crl',
        'pck_crl',
      ] as const;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...fields), byteFlips, byteMutation, async (field, flips, any) => {
          const isText = field === 'tcb_info' || field === 'qe_identity';
          // Signed JSON is signed as text: every change counts. Binary fields are cut or padded at will by
          // DER readers, so only in-place changes are required to fail.
          const changed = isText
            ? Buffer.from(mutateBytes(utf8(collateral[field]), any)).toString('latin1')
            : toHex(mutateBytes(fromHex(collateral[field]), flips));
          await refusal(
            async () =>
              verifyTdxQuote(quote, { ...collateral, [field]: changed }, tdxPolicy, TDX_QUOTE_VALID_AT),
            `collateral with a changed ${field}`,
          );
        }),
        runs(40),
      );
    },
    timeoutFor(60),
  );

  it(
    'any change to any collateral field is refused, or accepted as the very same claims',
    () => {
      const fields = Object.keys(collateral) as (keyof DcapCollateral)[];
      fc.assert(
        fc.property(fc.constantFrom(...fields), byteMutation, (field, mutation) => {
          const value = collateral[field] as string;
          const changed = /^[0-9a-f]*$/.test(value)
            ? toHex(mutateBytes(fromHex(value), mutation))
            : Buffer.from(mutateBytes(utf8(value), mutation)).toString('latin1');
          refusedOrUnchanged(quote, { ...collateral, [field]: changed });
        }),
        runs(40),
      );
    },
    timeoutFor(60),
  );
});
