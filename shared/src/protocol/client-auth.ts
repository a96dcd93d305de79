import { concatBytes, fromBase64, fromHex, sha256, toBase64, toHex, utf8 } from '../bytes.js';
import { signBytes, signingPublicKey, verifyBytesAsync } from '../signing.js';
import { Hex32 } from './primitives.js';

/**
 * Clients prove who they are by signing each request with their client-account key: a bearer token
 * could leak from any proxy, a signature bound to method, path, time and body cannot be reused elsewhere.
 */
export const CLIENT_HEADER = 'x-cocoon-client';
export const TIME_HEADER = 'x-cocoon-time';
export const SIGNATURE_HEADER = 'x-cocoon-signature';

/** How far a request's time may be from the server's clock. */
export const MAX_CLOCK_SKEW_SECONDS = 120;

export interface RequestToSign {
  method: string;
  /** Path with query string, as the server sees it. */
  path: string;
  body: Uint8Array;
}

function signedBytes(request: RequestToSign, time: number): Uint8Array {
  const head = utf8(`cocoon/request/v1\n${request.method.toUpperCase()}\n${request.path}\n${time}\n`);
  return concatBytes(head, sha256(request.body));
}

export function signRequest(
  request: RequestToSign,
  clientSecretKey: Uint8Array,
  nowSeconds: number,
): Record<string, string> {
  return {
    [CLIENT_HEADER]: toHex(signingPublicKey(clientSecretKey)),
    [TIME_HEADER]: String(nowSeconds),
    [SIGNATURE_HEADER]: toBase64(signBytes(signedBytes(request, nowSeconds), clientSecretKey)),
  };
}

export class RequestAuthError extends Error {
  override readonly name = 'RequestAuthError';
  constructor(
    message: string,
    /** `stale`: the time is outside the window (an old request replayed, or a client clock off). */
    readonly code: 'invalid' | 'stale' = 'invalid',
  ) {
    super(message);
  }
}

/**
 * Resolves to the client account (hex public key) that signed the request, or rejects with
 * RequestAuthError. The signature is checked off the main thread where the platform can (a proxy checks one
 * per job).
 */
export async function verifyRequest(
  request: RequestToSign,
  headers: Record<string, string | string[] | undefined>,
  nowSeconds: number,
): Promise<string> {
  const header = (name: string): string => {
    const value = headers[name];
    if (typeof value !== 'string' || value === '') throw new RequestAuthError(`missing ${name} header`);
    return value;
  };
  const client = Hex32.safeParse(header(CLIENT_HEADER));
  if (!client.success)
    throw new RequestAuthError(`${CLIENT_HEADER} must be a 32-byte hex Ed25519 public key`);
  const time = Number(header(TIME_HEADER));
  if (!Number.isSafeInteger(time)) throw new RequestAuthError(`${TIME_HEADER} must be unix seconds`);
  if (Math.abs(time - nowSeconds) > MAX_CLOCK_SKEW_SECONDS) {
    throw new RequestAuthError(
      `${TIME_HEADER} is more than ${MAX_CLOCK_SKEW_SECONDS}s from the server's clock`,
      'stale',
    );
  }
  let signature: Uint8Array;
  try {
    signature = fromBase64(header(SIGNATURE_HEADER));
  } catch {
    throw new RequestAuthError(`${SIGNATURE_HEADER} must be base64`);
  }
  if (!(await verifyBytesAsync(signature, signedBytes(request, time), fromHex(client.data)))) {
    throw new RequestAuthError('request signature does not verify');
  }
  return client.data;
}
