// What a worker states about itself besides its attestation, signed with the Ed25519 key the attestation
// binds: its payout address (checked by the proxy) and its model offers (checked by every client). Nobody
// between the worker and them can redirect its earnings or change its prices.
import { Address } from '@ton/core';
import { z } from 'zod';
import { fromBase64, fromHex, toBase64, utf8 } from '../bytes.js';
import { signBytes, verifyBytes } from '../signing.js';
import { ModelOffer } from './messages.js';

const statement = (topic: string, content: string): Uint8Array => utf8(`cocoon/${topic}/v1\n${content}`);

/** The address in raw form, so every spelling of one wallet states the same bytes. */
const payoutStatement = (payoutAddress: string): Uint8Array =>
  statement('payout', Address.parse(payoutAddress).toRawString());

/**
 * The offers as the wire carries them, each with its keys sorted, in order of model hash: the same bytes
 * however a proxy orders them, and a field added to ModelOffer is covered without a change here.
 */
function offersStatement(offers: readonly ModelOffer[]): Uint8Array {
  const canonical = offers
    .map((offer) => {
      const wire = z.encode(ModelOffer, offer) as Record<string, unknown>;
      return JSON.stringify(wire, Object.keys(wire).sort());
    })
    .sort();
  return statement('offers', `[${canonical.join(',')}]`);
}

function verifyStatement(message: () => Uint8Array, signature: string, signPublicKey: string): boolean {
  try {
    return verifyBytes(fromBase64(signature), message(), fromHex(signPublicKey));
  } catch {
    // An address that does not parse, or offers that do not encode, were never signed.
    return false;
  }
}

/** Signs the payout address with the worker's attested signing key (base64, as the hello carries it). */
export const signPayoutAddress = (payoutAddress: string, signSecretKey: Uint8Array): string =>
  toBase64(signBytes(payoutStatement(payoutAddress), signSecretKey));

/** Whether `signature` is the attested key's (`signPublicKey`, hex) over `payoutAddress`. */
export const verifyPayoutAddress = (
  payoutAddress: string,
  signature: string,
  signPublicKey: string,
): boolean => verifyStatement(() => payoutStatement(payoutAddress), signature, signPublicKey);

/** Signs the worker's model offers with its attested signing key. */
export const signOffers = (offers: readonly ModelOffer[], signSecretKey: Uint8Array): string =>
  toBase64(signBytes(offersStatement(offers), signSecretKey));

/** Whether `signature` is the attested key's over exactly these offers, in any order. */
export const verifyOffers = (
  offers: readonly ModelOffer[],
  signature: string,
  signPublicKey: string,
): boolean => verifyStatement(() => offersStatement(offers), signature, signPublicKey);
