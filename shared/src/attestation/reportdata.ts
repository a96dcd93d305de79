import { concatBytes, fromHex, sha256, sha512, utf8 } from '../bytes.js';
import { WorkerClaims } from './bundle.js';
import { AttestationError } from './errors.js';

const REPORT_DATA_DOMAIN = utf8('cocoon/worker/v1');

/**
 * The 64 bytes a worker puts in its quote's REPORTDATA (or signs with its dev key):
 * SHA-512("cocoon/worker/v1" ‖ hpkePub ‖ signPub ‖ SHA-256(sorted model hashes concatenated) ‖ notAfter u64 BE).
 * Every part has a fixed length, so the concatenation is unambiguous.
 */
export function workerReportData(claims: WorkerClaims): Uint8Array {
  const parsed = WorkerClaims.safeParse(claims);
  if (!parsed.success) {
    throw new AttestationError('malformed', `invalid worker claims: ${parsed.error.message}`, {
      cause: parsed.error,
    });
  }
  const { hpkePublicKey, signPublicKey, models, notAfter } = parsed.data;
  const modelsDigest = sha256(concatBytes(...models.map(fromHex)));
  const notAfterBytes = new Uint8Array(8);
  new DataView(notAfterBytes.buffer).setBigUint64(0, BigInt(notAfter), false);
  return sha512(
    concatBytes(
      REPORT_DATA_DOMAIN,
      fromHex(hpkePublicKey),
      fromHex(signPublicKey),
      modelsDigest,
      notAfterBytes,
    ),
  );
}
