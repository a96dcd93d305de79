/*
 * The contract of the hot cryptographic primitives. Two builds implement it, chosen by package.json "imports"
 * (#crypto-primitives): OpenSSL through node:crypto under Node (primitives-node.ts), WebCrypto and pure JS in
 * browsers (primitives-web.ts). Both give the same bytes; a test checks them against each other.
 */

declare const aeadKeyBrand: unique symbol;
/** An AES-256-GCM key derived by `deriveAeadKey`: opaque, only the build that made it can use it. */
export type AeadKey = { readonly [aeadKeyBrand]: true };

/** Incremental SHA-256; `digest` may be called more than once and does not end the stream. */
export interface Sha256Stream {
  update(data: Uint8Array): Sha256Stream;
  digest(): Uint8Array;
}

export const AES_GCM_TAG_LENGTH = 16;
