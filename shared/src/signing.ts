import { ed25519 } from '@noble/curves/ed25519.js';
import { ed25519PublicKey, ed25519Sign, ed25519Verify, ed25519VerifyAsync } from '#ed25519';

/** Ed25519 keys for receipts, client requests and cumulative totals: the same scheme TON's check_signature uses. */
export interface SigningKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function generateSigningKeyPair(seed?: Uint8Array): SigningKeyPair {
  const { secretKey, publicKey } = ed25519.keygen(seed);
  return { secretKey, publicKey };
}

export const signingPublicKey = (secretKey: Uint8Array): Uint8Array => ed25519PublicKey(secretKey);

export const signBytes = (message: Uint8Array, secretKey: Uint8Array): Uint8Array =>
  ed25519Sign(message, secretKey);

export function verifyBytes(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return ed25519Verify(signature, message, publicKey);
  } catch {
    // Malformed keys or signatures are simply not valid signatures.
    return false;
  }
}

/** `verifyBytes` off the main thread where the platform can (Node's thread pool), for servers. */
export async function verifyBytesAsync(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): Promise<boolean> {
  try {
    return await ed25519VerifyAsync(signature, message, publicKey);
  } catch {
    return false;
  }
}
