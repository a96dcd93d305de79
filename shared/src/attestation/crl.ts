import { p256 } from '@noble/curves/nist.js';
import { constants, Quote } from '@phala/dcap-qvl';
import { equalBytes, fromBase64, fromHex, fromUtf8 } from '../bytes.js';
import type { DcapCollateral } from './bundle.js';
import { AttestationError } from './errors.js';

/**
 * dcap-qvl 0.3.9 reads the CRLs only for revoked serial numbers: it checks neither their signatures nor
 * their validity window, and skips a CRL it cannot parse. Collateral reaches clients through an untrusted
 * proxy, which could then hide a revoked PCK behind an empty or stale CRL. This closes that gap: the root CA
 * CRL must be signed by Intel's root and the PCK CRL by the CA that issued the quote's PCK certificate, and
 * both must be current at `nowSeconds`. Returns the earliest nextUpdate. Call only after dcap-qvl accepted
 * the quote, so the PCK chain read here is one that verified up to the root.
 */
export function checkCrls(quote: Uint8Array, collateral: DcapCollateral, nowSeconds: number): number {
  let pckChain: Uint8Array[];
  try {
    // dcap-qvl reads the chain leniently; bytes it let through may still not be UTF-8 or base64.
    pckChain = pemCertificates(
      collateral.pck_certificate_chain ?? fromUtf8(Quote.parse(quote).rawCertChain()),
    );
  } catch (error) {
    throw new AttestationError('malformed', `PCK certificate chain: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const pckIssuer = pckChain[1];
  if (!pckIssuer) throw new AttestationError('quote_invalid', 'PCK certificate chain has no issuing CA');
  const rootNextUpdate = checkCrl(
    'root CA CRL',
    collateral.root_ca_crl,
    constants.TRUSTED_ROOT_CA_DER,
    nowSeconds,
  );
  const pckNextUpdate = checkCrl('PCK CRL', collateral.pck_crl, pckIssuer, nowSeconds);
  return Math.min(rootNextUpdate, pckNextUpdate);
}

function checkCrl(name: string, crlHex: string, issuerCertificate: Uint8Array, nowSeconds: number): number {
  let crl: ParsedCrl;
  let issuerKey: Uint8Array;
  try {
    crl = parseCrl(fromHex(crlHex));
    issuerKey = certificatePublicKey(issuerCertificate);
  } catch (error) {
    throw new AttestationError('malformed', `${name}: ${(error as Error).message}`, { cause: error });
  }
  if (!p256.verify(crl.signature, crl.signedBytes, issuerKey, { format: 'der', lowS: false })) {
    throw new AttestationError('quote_invalid', `${name} is not signed by its issuing CA`);
  }
  if (crl.thisUpdate > nowSeconds) {
    throw new AttestationError(
      'collateral_expired',
      `${name} is not valid yet (thisUpdate ${crl.thisUpdate})`,
    );
  }
  if (crl.nextUpdate < nowSeconds) {
    throw new AttestationError('collateral_expired', `${name} expired (nextUpdate ${crl.nextUpdate})`);
  }
  return crl.nextUpdate;
}

function pemCertificates(pem: string): Uint8Array[] {
  const blocks = pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g);
  return [...blocks].map((block) => fromBase64((block[1] as string).replace(/\s+/g, '')));
}

// A DER reader with just what X.509 certificates and CRLs (RFC 5280) need here.
interface Tlv {
  tag: number;
  /** The whole element, header included. */
  raw: Uint8Array;
  content: Uint8Array;
}

function readTlv(bytes: Uint8Array, offset: number): Tlv {
  const tag = bytes[offset];
  let length = bytes[offset + 1];
  if (tag === undefined || length === undefined) throw new Error('truncated DER');
  let header = 2;
  if (length & 0x80) {
    const lengthBytes = length & 0x7f;
    if (lengthBytes < 1 || lengthBytes > 4) throw new Error('unsupported DER length');
    length = 0;
    for (let i = 0; i < lengthBytes; i++) length = length * 256 + (bytes[offset + 2 + i] ?? Number.NaN);
    header += lengthBytes;
  }
  const end = offset + header + length;
  if (!(end <= bytes.length)) throw new Error('truncated DER');
  return { tag, raw: bytes.subarray(offset, end), content: bytes.subarray(offset + header, end) };
}

function children(parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let offset = 0; offset < parent.content.length; offset += out[out.length - 1]?.raw.length ?? 0) {
    out.push(readTlv(parent.content, offset));
  }
  return out;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
/** AlgorithmIdentifier { ecdsa-with-SHA256 }: the only algorithm Intel's SGX PKI uses. */
const ECDSA_WITH_SHA256 = Uint8Array.of(
  0x30,
  0x0a,
  0x06,
  0x08,
  0x2a,
  0x86,
  0x48,
  0xce,
  0x3d,
  0x04,
  0x03,
  0x02,
);

function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (tlv?.tag !== tag) throw new Error(`expected ${what}`);
  return tlv;
}

/** The signature value of a BIT STRING: no unused bits, so drop the leading count byte. */
function bitStringBytes(tlv: Tlv | undefined, what: string): Uint8Array {
  const { content } = expectTag(tlv, BIT_STRING, what);
  if (content[0] !== 0) throw new Error(`${what} has unused bits`);
  return content.subarray(1);
}

function derTime(tlv: Tlv | undefined): number {
  if (tlv?.tag !== UTC_TIME && tlv?.tag !== GENERALIZED_TIME) throw new Error('expected a time');
  const text = fromUtf8(tlv.content);
  const match = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) throw new Error(`unsupported time ${text}`);
  const [, y, mo, d, h, mi, s] = match.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // RFC 5280 4.1.2.5.1: two-digit years 50..99 are 19xx, 00..49 are 20xx.
  const year = tlv.tag === UTC_TIME ? (y >= 50 ? 1900 + y : 2000 + y) : y;
  return Date.UTC(year, mo - 1, d, h, mi, s) / 1000;
}

interface ParsedCrl {
  signedBytes: Uint8Array;
  signature: Uint8Array;
  thisUpdate: number;
  nextUpdate: number;
}

/** CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue } */
function parseCrl(der: Uint8Array): ParsedCrl {
  const [tbs, algorithm, signature] = children(expectTag(readTlv(der, 0), SEQUENCE, 'a CRL'));
  if (!algorithm || !equalBytes(algorithm.raw, ECDSA_WITH_SHA256)) throw new Error('CRL is not ECDSA-SHA256');
  // TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature, issuer, thisUpdate, nextUpdate, ... }
  const fields = children(expectTag(tbs, SEQUENCE, 'tbsCertList'));
  const rest = fields[0]?.tag === INTEGER ? fields.slice(1) : fields;
  return {
    signedBytes: (tbs as Tlv).raw,
    signature: bitStringBytes(signature, 'CRL signature'),
    thisUpdate: derTime(rest[2]),
    // Optional in RFC 5280, always present in Intel's CRLs; a CRL without one cannot be judged fresh.
    nextUpdate: derTime(rest[3]),
  };
}

/** The uncompressed P-256 point in a certificate's subjectPublicKeyInfo. */
function certificatePublicKey(der: Uint8Array): Uint8Array {
  const [tbs] = children(expectTag(readTlv(der, 0), SEQUENCE, 'a certificate'));
  // TBSCertificate ::= SEQUENCE { [0] version, serial, signature, issuer, validity, subject, spki, ... }
  const fields = children(expectTag(tbs, SEQUENCE, 'tbsCertificate'));
  const rest = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
  const [, key] = children(expectTag(rest[5], SEQUENCE, 'subjectPublicKeyInfo'));
  return bitStringBytes(key, 'subjectPublicKey');
}
