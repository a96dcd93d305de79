import { z } from 'zod';
import { toHex } from '../bytes.js';
import { Base64, Hex32, hexBytes, PROTOCOL_VERSION, UnixSeconds } from '../protocol/primitives.js';

/** SHA-256 digests of GGUF files, ascending and without repeats, so one set of models has one encoding. */
export const ModelList = z
  .array(Hex32)
  .min(1)
  .max(64)
  .refine((models) => models.every((model, i) => i === 0 || (models[i - 1] as string) < model), {
    message: 'models must be sorted ascending without duplicates',
  });

/** What a worker asks the hardware (or the dev key) to vouch for; REPORTDATA is derived from exactly these. */
export const WorkerClaims = z.object({
  /** X25519 key that clients HPKE-seal job keys to. */
  hpkePublicKey: Hex32,
  /** Ed25519 key that signs receipts. */
  signPublicKey: Hex32,
  models: ModelList,
  /** After this time the keys must not be trusted; workers rotate before it. */
  notAfter: UnixSeconds,
});
export type WorkerClaims = z.output<typeof WorkerClaims>;

const hexString = z
  .string()
  .max(2_000_000)
  .regex(/^(?:[0-9a-fA-F]{2})*$/, 'expected hex');
const pemChain = z.string().max(32_768).includes('-----BEGIN CERTIFICATE-----');
const jsonText = z.string().max(262_144);

/**
 * Intel DCAP collateral in the shape `@phala/dcap-qvl` verifies (PCCS v4 responses): binary fields as hex,
 * certificate chains as PEM, TCB info and QE identity as the signed JSON text. Every part is signed by Intel
 * or checked against Intel's root, so a cached copy from an untrusted proxy is as good as a fresh fetch
 * while its validity windows last.
 */
export const DcapCollateral = z.object({
  pck_crl_issuer_chain: pemChain,
  root_ca_crl: hexString,
  pck_crl: hexString,
  tcb_info_issuer_chain: pemChain,
  tcb_info: jsonText,
  tcb_info_signature: hexBytes(64),
  qe_identity_issuer_chain: pemChain,
  qe_identity: jsonText,
  qe_identity_signature: hexBytes(64),
  /** PCK chain for quotes that do not embed it (certification data types 2, 3); verified to the root like the rest. */
  pck_certificate_chain: pemChain.optional(),
});
export type DcapCollateral = z.output<typeof DcapCollateral>;

type DcapBinary = string | ArrayLike<number>;

/** dcap-qvl's `getCollateral` returns byte arrays for the binary fields; the wire form is hex. */
export function collateralFromDcap(raw: {
  pck_crl_issuer_chain: string;
  root_ca_crl: DcapBinary;
  pck_crl: DcapBinary;
  tcb_info_issuer_chain: string;
  tcb_info: string;
  tcb_info_signature: DcapBinary;
  qe_identity_issuer_chain: string;
  qe_identity: string;
  qe_identity_signature: DcapBinary;
  pck_certificate_chain?: string | null;
}): DcapCollateral {
  const hex = (value: DcapBinary) => (typeof value === 'string' ? value : toHex(Uint8Array.from(value)));
  return DcapCollateral.parse({
    pck_crl_issuer_chain: raw.pck_crl_issuer_chain,
    root_ca_crl: hex(raw.root_ca_crl),
    pck_crl: hex(raw.pck_crl),
    tcb_info_issuer_chain: raw.tcb_info_issuer_chain,
    tcb_info: raw.tcb_info,
    tcb_info_signature: hex(raw.tcb_info_signature).toLowerCase(),
    qe_identity_issuer_chain: raw.qe_identity_issuer_chain,
    qe_identity: raw.qe_identity,
    qe_identity_signature: hex(raw.qe_identity_signature).toLowerCase(),
    pck_certificate_chain: raw.pck_certificate_chain ?? undefined,
  });
}

const BundleCommon = WorkerClaims.extend({ v: z.literal(PROTOCOL_VERSION) });

export const TdxBundle = BundleCommon.extend({
  kind: z.literal('tdx'),
  evidence: z.object({
    /** The raw TDX quote whose REPORTDATA is `workerReportData` of this bundle's claims. */
    quote: Base64.max(65_536),
    /** Cached by the worker or proxy so clients can verify without reaching a PCCS. */
    collateral: DcapCollateral.optional(),
  }),
});

/** No TEE: the claims signed by a throwaway local key. Proves integrity only, never confidentiality. */
export const DevBundle = BundleCommon.extend({
  kind: z.literal('dev'),
  evidence: z.object({
    devPublicKey: Hex32,
    /** Ed25519 over `workerReportData` of this bundle's claims. */
    signature: Base64.length(88),
  }),
});

export const AttestationBundle = z.discriminatedUnion('kind', [TdxBundle, DevBundle]);
export type AttestationBundle = z.output<typeof AttestationBundle>;
export type AttestationKind = AttestationBundle['kind'];
