import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes, fromBase64, toBase64, toHex } from '../../src/bytes.js';
import {
  CLIENT_HEADER,
  MAX_CLOCK_SKEW_SECONDS,
  RequestAuthError,
  type RequestToSign,
  SIGNATURE_HEADER,
  signRequest,
  TIME_HEADER,
  verifyRequest,
} from '../../src/protocol/client-auth.js';
import { generateSigningKeyPair } from '../../src/signing.js';
import {
  type ByteMutation,
  byteMutation,
  hexOf,
  mutateBytes,
  rejection,
  runs,
  timeoutFor,
} from './support.js';

const NOW = 1_800_000_000;
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

const requestArb: fc.Arbitrary<RequestToSign> = fc.record({
  method: fc.constantFrom(...METHODS),
  path: fc
    .tuple(fc.webPath(), fc.webQueryParameters())
    .map(([path, query]) => `/${path.replace(/^\/+/, '')}${query === '' ? '' : `?${query}`}`),
  body: fc.uint8Array({ maxLength: 512 }),
});

const signedArb = fc.record({
  seed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  request: requestArb,
  time: fc.integer({ min: NOW - MAX_CLOCK_SKEW_SECONDS, max: NOW + MAX_CLOCK_SKEW_SECONDS }),
});

type Headers = Record<string, string | string[] | undefined>;

const signed = ({ seed, request, time }: { seed: Uint8Array; request: RequestToSign; time: number }) => {
  const keys = generateSigningKeyPair(seed);
  return { keys, headers: signRequest(request, keys.secretKey, time) as Headers };
};

type Mutation =
  | { kind: 'method'; method: (typeof METHODS)[number] }
  | { kind: 'path'; path: string }
  | { kind: 'body'; mutation: ByteMutation }
  | { kind: 'time'; time: number }
  | { kind: 'timeText'; text: string }
  | { kind: 'client'; client: string }
  | { kind: 'signature'; mutation: ByteMutation }
  | { kind: 'signatureText'; text: string }
  | { kind: 'drop'; header: string }
  | { kind: 'array'; header: string }
  | { kind: 'clock'; offset: number };

const HEADERS = [CLIENT_HEADER, TIME_HEADER, SIGNATURE_HEADER];

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('method' as const), method: fc.constantFrom(...METHODS) }),
  fc.record({ kind: fc.constant('path' as const), path: fc.string({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant('body' as const), mutation: byteMutation }),
  fc.record({ kind: fc.constant('time' as const), time: fc.integer({ min: 0, max: 2 * NOW }) }),
  fc.record({ kind: fc.constant('timeText' as const), text: fc.string({ maxLength: 16 }) }),
  fc.record({
    kind: fc.constant('client' as const),
    client: fc.oneof(hexOf(32), fc.string({ maxLength: 70 })),
  }),
  fc.record({ kind: fc.constant('signature' as const), mutation: byteMutation }),
  fc.record({ kind: fc.constant('signatureText' as const), text: fc.string({ maxLength: 100 }) }),
  fc.record({ kind: fc.constant('drop' as const), header: fc.constantFrom(...HEADERS) }),
  fc.record({ kind: fc.constant('array' as const), header: fc.constantFrom(...HEADERS) }),
  fc.record({
    kind: fc.constant('clock' as const),
    offset: fc.oneof(
      fc.integer({ min: MAX_CLOCK_SKEW_SECONDS + 1, max: 10 ** 9 }),
      fc.integer({ min: -(10 ** 9), max: -MAX_CLOCK_SKEW_SECONDS - 1 }),
    ),
  }),
);

/**
 * Applies the mutation; undefined when it changes nothing the signature covers (the same method, path,
 * body, time value or signature bytes spelled the same or differently).
 */
function mutate(
  request: RequestToSign,
  headers: Headers,
  time: number,
  mutation: Mutation,
): { request: RequestToSign; headers: Headers; now: number } | undefined {
  const out = { request: { ...request }, headers: { ...headers }, now: time };
  const signature = fromBase64(headers[SIGNATURE_HEADER] as string);
  switch (mutation.kind) {
    case 'method':
      if (mutation.method === request.method) return undefined;
      out.request.method = mutation.method;
      return out;
    case 'path':
      if (mutation.path === request.path) return undefined;
      out.request.path = mutation.path;
      return out;
    case 'body':
      out.request.body = mutateBytes(request.body, mutation.mutation);
      return out;
    case 'time':
      if (mutation.time === time) return undefined;
      out.headers[TIME_HEADER] = String(mutation.time);
      return out;
    case 'timeText':
      // Number() reads '0x…', ' 1e9 ' and the like; the signature covers the value, so only another value counts.
      if (Number(mutation.text) === time) return undefined;
      out.headers[TIME_HEADER] = mutation.text;
      return out;
    case 'client':
      if (mutation.client === headers[CLIENT_HEADER]) return undefined;
      out.headers[CLIENT_HEADER] = mutation.client;
      return out;
    case 'signature':
      out.headers[SIGNATURE_HEADER] = toBase64(mutateBytes(signature, mutation.mutation));
      return out;
    case 'signatureText': {
      let decoded: Uint8Array | undefined;
      try {
        decoded = fromBase64(mutation.text);
      } catch {
        decoded = undefined;
      }
      if (decoded !== undefined && equalBytes(decoded, signature)) return undefined;
      out.headers[SIGNATURE_HEADER] = mutation.text;
      return out;
    }
    case 'drop':
      delete out.headers[mutation.header];
      return out;
    case 'array':
      out.headers[mutation.header] = [headers[mutation.header] as string];
      return out;
    case 'clock':
      out.now = time + mutation.offset;
      return out;
  }
}

describe('client request signing', () => {
  it(
    'a signed request verifies as its client within the clock skew',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          signedArb,
          fc.integer({ min: -MAX_CLOCK_SKEW_SECONDS, max: MAX_CLOCK_SKEW_SECONDS }),
          async (input, skew) => {
            const { keys, headers } = signed(input);
            expect(await verifyRequest(input.request, headers, input.time + skew)).toBe(
              toHex(keys.publicKey),
            );
          },
        ),
        runs(150),
      );
    },
    timeoutFor(2),
  );

  it(
    'any change to what is signed, or to the headers, is refused with a RequestAuthError',
    async () => {
      await fc.assert(
        fc.asyncProperty(signedArb, mutationArb, async (input, mutation) => {
          const { headers } = signed(input);
          const mutated = mutate(input.request, headers, input.time, mutation);
          fc.pre(mutated !== undefined);
          const { request, headers: changed, now } = mutated as NonNullable<typeof mutated>;
          const error = await rejection(() => verifyRequest(request, changed, now), 'a changed request');
          expect(error).toBeInstanceOf(RequestAuthError);
        }),
        runs(200),
      );
    },
    timeoutFor(2),
  );

  it(
    'random headers are refused with a RequestAuthError',
    async () => {
      const value = fc.oneof(fc.string({ maxLength: 100 }), fc.array(fc.string()), fc.constant(undefined));
      const headers = fc.record({ [CLIENT_HEADER]: value, [TIME_HEADER]: value, [SIGNATURE_HEADER]: value });
      await fc.assert(
        fc.asyncProperty(requestArb, headers, async (request, random) => {
          const error = await rejection(() => verifyRequest(request, random, NOW), 'random headers');
          expect(error).toBeInstanceOf(RequestAuthError);
        }),
        runs(150),
      );
    },
    timeoutFor(2),
  );
});
