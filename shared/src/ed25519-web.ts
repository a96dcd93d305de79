// Browsers: Ed25519 in pure JS (@noble/curves). Node gets ed25519-node.ts through package.json "imports".
import { ed25519 } from '@noble/curves/ed25519.js';

export const ed25519Sign = (message: Uint8Array, secretKey: Uint8Array): Uint8Array =>
  ed25519.sign(message, secretKey);

export const ed25519Verify = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean =>
  ed25519.verify(signature, message, publicKey);

/** Browsers have no thread pool to hand it to: the same check, as a promise. */
export const ed25519VerifyAsync = async (
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): Promise<boolean> => ed25519Verify(signature, message, publicKey);

export const ed25519PublicKey = (secretKey: Uint8Array): Uint8Array => ed25519.getPublicKey(secretKey);
