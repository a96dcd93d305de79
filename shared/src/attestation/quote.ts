import { concatBytes, fromHex, sha256, toHex } from '../bytes.js';
import { AttestationError } from './errors.js';

/**
 * TD report fields read straight from a TDX quote (Intel TDX DCAP Quoting Library API, appendix 3).
 * Parsing does not verify anything: read these only from a quote that dcap-qvl has verified.
 */
export interface TdMeasurements {
  /** Hex of the 48-byte build-time measurement of the TD (firmware). */
  mrtd: string;
  /** Hex of the 48-byte runtime measurement registers (boot loader, kernel, command line, application). */
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
}

export interface TdxQuoteReport {
  version: 4 | 5;
  measurements: TdMeasurements;
  reportData: Uint8Array;
}

const HEADER_LENGTH = 48;
const TEE_TYPE_TDX = 0x81;
/** Quote v5 puts a body descriptor (u16 type, u32 size) between the header and the TD report. */
const V5_BODY_DESCRIPTOR_LENGTH = 6;
/** Offsets inside the TD report body (TD report 1.0; TD report 1.5 only appends fields). */
const MRTD_OFFSET = 136;
const RTMR_OFFSETS = [328, 376, 424, 472] as const;
const REPORT_DATA_OFFSET = 520;
const TD_REPORT10_LENGTH = 584;
const MEASUREMENT_LENGTH = 48;

export function parseTdxQuote(quote: Uint8Array): TdxQuoteReport {
  if (quote.length < HEADER_LENGTH + V5_BODY_DESCRIPTOR_LENGTH + TD_REPORT10_LENGTH) {
    throw new AttestationError('malformed', `TDX quote too short: ${quote.length} bytes`);
  }
  const view = new DataView(quote.buffer, quote.byteOffset, quote.byteLength);
  const version = view.getUint16(0, true);
  const teeType = view.getUint32(4, true);
  if (teeType !== TEE_TYPE_TDX) {
    throw new AttestationError('malformed', `not a TDX quote (TEE type 0x${teeType.toString(16)})`);
  }
  if (version !== 4 && version !== 5) {
    throw new AttestationError('malformed', `unsupported TDX quote version ${version}`);
  }
  const body = HEADER_LENGTH + (version === 5 ? V5_BODY_DESCRIPTOR_LENGTH : 0);
  const measurement = (offset: number) =>
    toHex(quote.subarray(body + offset, body + offset + MEASUREMENT_LENGTH));
  const [rtmr0, rtmr1, rtmr2, rtmr3] = RTMR_OFFSETS.map(measurement) as [string, string, string, string];
  return {
    version,
    measurements: { mrtd: measurement(MRTD_OFFSET), rtmr0, rtmr1, rtmr2, rtmr3 },
    reportData: quote.slice(body + REPORT_DATA_OFFSET, body + REPORT_DATA_OFFSET + 64),
  };
}

/** Hex SHA-256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3): one value for the allowlist that pins the whole image. */
export function imageHash(measurements: TdMeasurements): string {
  const { mrtd, rtmr0, rtmr1, rtmr2, rtmr3 } = measurements;
  return toHex(sha256(concatBytes(...[mrtd, rtmr0, rtmr1, rtmr2, rtmr3].map(measurementBytes))));
}

function measurementBytes(hex: string): Uint8Array {
  if (!/^[0-9a-f]{96}$/.test(hex))
    throw new AttestationError('malformed', 'a measurement is 48 bytes of lowercase hex');
  return fromHex(hex);
}
