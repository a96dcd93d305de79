// A worker names the wallet its earnings go to in its hello, and signs it with the Ed25519 key its
// attestation binds: nobody between the worker and the proxy can redirect them.
import { Address } from '@ton/core';
import { fromBase64, fromHex, toBase64, utf8 } from '../bytes.js';
import { signBytes, verifyBytes } from '../signing.js';

/** The signed statement: the address in raw form, so every spelling of one wallet signs the same bytes. */
function payoutStatement(payoutAddress: string): Uint8Array {
  return utf8(`cocoon/payout/v1\n${Address.parse(payoutAddress).toRawString()}`);
}

/** Signs the payout address with the worker's attested signing key (base64, as the hello carries it). */
export const signPayoutAddress = (payoutAddress: string, signSecretKey: Uint8Array): string =>
  toBase64(signBytes(payoutStatement(payoutAddress), signSecretKey));

/** Whether `signature` is the attested key's (`signPublicKey`, hex) over `payoutAddress`. */
export function verifyPayoutAddress(
  payoutAddress: string,
  signature: string,
  signPublicKey: string,
): boolean {
  let statement: Uint8Array;
  try {
    statement = payoutStatement(payoutAddress);
  } catch {
    return false;
  }
  return verifyBytes(fromBase64(signature), statement, fromHex(signPublicKey));
}
