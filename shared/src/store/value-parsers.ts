// Node-only by nature: configures the `pg` driver's parsers (PGlite's are plain functions, but only the
// Node store uses them).
import pg from 'pg';

/**
 * Both backends return the same JS values: int8 as bigint (money in nanotons may pass 2^53), numeric as
 * bigint when integral (numeric(40,0) money columns, sum() of money) and otherwise as its exact decimal
 * string (never a lossy float), bytea as Uint8Array. Serializing bigint parameters needs nothing: both
 * drivers send `value.toString()`.
 */
const INT8 = 20;
const NUMERIC = 1700;
const BYTEA = 17;
const INT8_ARRAY = 1016;
const NUMERIC_ARRAY = 1231;
const TEXT_ARRAY = 1009;

const INTEGER_TEXT = /^-?\d+$/;

export function parseInt8(text: string): bigint {
  return BigInt(text);
}

export function parseNumeric(text: string): bigint | string {
  return INTEGER_TEXT.test(text) ? BigInt(text) : text;
}

/** Parsers PGlite takes in its `parsers` option; its array parsers reuse them per element. */
export const pgliteParsers = { [INT8]: parseInt8, [NUMERIC]: parseNumeric };

type Nested<T> = T | null | Nested<T>[];

function mapNested<T, U>(value: Nested<T>, map: (element: T) => U): Nested<U> {
  if (value === null) return null;
  return Array.isArray(value) ? value.map((element) => mapNested(element, map)) : map(value);
}

// pg's typings list only scalar type ids; its parsers cover the array types too.
type PgTypeId = Parameters<typeof pg.types.getTypeParser>[0];

const parseTextArray = pg.types.getTypeParser(TEXT_ARRAY as PgTypeId, 'text') as (
  text: string,
) => Nested<string>;
const parseByteaToBuffer = pg.types.getTypeParser(BYTEA, 'text') as (text: string) => Buffer;

const pgTextParsers: Record<number, (text: string) => unknown> = {
  [INT8]: parseInt8,
  [NUMERIC]: parseNumeric,
  [INT8_ARRAY]: (text) => mapNested(parseTextArray(text), parseInt8),
  [NUMERIC_ARRAY]: (text) => mapNested(parseTextArray(text), parseNumeric),
  [BYTEA]: (text) => new Uint8Array(parseByteaToBuffer(text)), // a copy: the Buffer may sit in a shared pool
};

/** For pg's per-pool `types` option, so the process-wide pg.types defaults stay untouched. */
export const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: PgTypeId, format?: 'text' | 'binary') =>
    (format ?? 'text') === 'text' && pgTextParsers[oid]
      ? pgTextParsers[oid]
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};
