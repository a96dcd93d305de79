import fc from 'fast-check';
import { z } from 'zod';
import { toHex } from '../../src/bytes.js';

/**
 * Property tests read their number of cases from COCOON_PROPERTY_RUNS (`npm run test:long` sets 10000).
 * Without it each property runs its own small default, sized so that all of them stay within seconds in
 * `npm test`.
 */
const fromEnv = z.coerce
  .number()
  .int()
  .positive()
  .optional()
  .parse(process.env.COCOON_PROPERTY_RUNS || undefined);

export const longRun = fromEnv !== undefined;

/** fast-check parameters for a property whose default number of cases is `defaultRuns`. */
export const runs = (defaultRuns: number): { numRuns: number } => ({ numRuns: fromEnv ?? defaultRuns });

/** A vitest timeout for a property: a minute in `npm test`, scaled to the number of cases in a long run. */
export const timeoutFor = (msPerCase: number): number => Math.max(60_000, (fromEnv ?? 0) * msPerCase * 4);

export const hexOf = (length: number): fc.Arbitrary<string> =>
  fc.uint8Array({ minLength: length, maxLength: length }).map(toHex);

/** Changes to a byte string that always give a different byte string. */
export type ByteMutation =
  | { kind: 'flip'; edits: { at: number; mask: number }[] }
  | { kind: 'truncate'; keep: number }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'insert'; at: number; extra: Uint8Array }
  | { kind: 'append'; extra: Uint8Array };

export const byteFlips: fc.Arbitrary<ByteMutation> = fc.record({
  kind: fc.constant('flip' as const),
  edits: fc.array(fc.record({ at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }), {
    minLength: 1,
    maxLength: 4,
  }),
});

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { arbitrary: byteFlips, weight: 4 },
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    extra: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);

/**
 * Applies a mutation; positions wrap around the length. Flips may be aimed at a region: then their
 * positions index `flipPositions`. Flips that land on one position keep the first, so they never cancel out.
 */
export function mutateBytes(
  bytes: Uint8Array,
  mutation: ByteMutation,
  flipPositions?: readonly number[],
): Uint8Array {
  if (bytes.length === 0) return Uint8Array.of(0);
  switch (mutation.kind) {
    case 'flip': {
      const out = Uint8Array.from(bytes);
      const done = new Set<number>();
      for (const { at, mask } of mutation.edits) {
        const i = flipPositions ? (flipPositions[at % flipPositions.length] as number) : at % bytes.length;
        if (done.has(i)) continue;
        done.add(i);
        out[i] = (out[i] as number) ^ mask;
      }
      return out;
    }
    case 'truncate':
      return bytes.slice(0, mutation.keep % bytes.length);
    case 'delete': {
      const at = mutation.at % bytes.length;
      return Uint8Array.of(...bytes.subarray(0, at), ...bytes.subarray(at + mutation.count));
    }
    case 'insert': {
      const at = mutation.at % (bytes.length + 1);
      return Uint8Array.of(...bytes.subarray(0, at), ...mutation.extra, ...bytes.subarray(at));
    }
    case 'append':
      return Uint8Array.of(...bytes, ...mutation.extra);
  }
}

/** Runs `action`; returns what it threw, or fails the property when it returned. */
export async function rejection(action: () => unknown, what: string): Promise<unknown> {
  let result: unknown;
  try {
    result = await action();
  } catch (error) {
    return error;
  }
  throw new Error(`${what} was accepted: ${fc.stringify(result)}`);
}
