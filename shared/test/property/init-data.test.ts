import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  InitDataError,
  initDataCheckString,
  signInitData,
  TelegramUser,
  verifyInitData,
} from '../../src/protocol/app-api.js';
import { rejection, runs, timeoutFor } from './support.js';

const NOW = 1_800_000_000;
const MAX_AGE = 86_400;
/** How far ahead of the verifier's clock auth_date may be (clock skew between Telegram and us). */
const FUTURE_SKEW = 60;

const botTokenArb = fc
  .tuple(
    fc.integer({ min: 1, max: 2 ** 40 }),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 46 }),
  )
  .map(([id, secret]) => `${id}:${secret}`);

const userArb: fc.Arbitrary<TelegramUser> = fc.record(
  {
    id: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    first_name: fc.string({ unit: 'grapheme', maxLength: 64 }),
    last_name: fc.string({ unit: 'grapheme', maxLength: 64 }),
    username: fc.stringMatching(/^[A-Za-z0-9_]{5,32}$/),
    language_code: fc.constantFrom('en', 'ru', 'de', 'pt-br', 'zh-hans'),
    is_premium: fc.boolean(),
    photo_url: fc.webUrl(),
  },
  { requiredKeys: ['id', 'first_name'] },
);

/** Fields Telegram adds next to the signed user; the verifier must carry or ignore them, never refuse them. */
const extraFieldsArb = fc.record(
  {
    query_id: fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/),
    chat_instance: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
    chat_type: fc.constantFrom('sender', 'private', 'group', 'supergroup', 'channel'),
    start_param: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
    signature: fc.base64String({ minLength: 4, maxLength: 88 }),
    // Any other text field, with characters that need escaping in a query string.
    note: fc.string({ unit: 'grapheme', maxLength: 40 }),
  },
  { requiredKeys: [] },
);

interface Launch {
  botToken: string;
  user: TelegramUser;
  authDate: number;
  fields: Record<string, string>;
}

const launchArb = (authDate: fc.Arbitrary<number>): fc.Arbitrary<Launch> =>
  fc
    .record({ botToken: botTokenArb, user: userArb, authDate, extra: extraFieldsArb })
    .map(({ botToken, user, authDate: date, extra }) => ({
      botToken,
      user,
      authDate: date,
      fields: { ...extra, auth_date: String(date), user: JSON.stringify(user) },
    }));

const freshDate = fc.integer({ min: NOW - MAX_AGE, max: NOW + FUTURE_SKEW });
const freshLaunchArb = launchArb(freshDate);

const verify = (raw: string, botToken: string, now = NOW) => verifyInitData(raw, botToken, now, MAX_AGE);

/** The verifier's only way to fail: an InitDataError with one of its codes. */
async function refusal(raw: string, botToken: string, now = NOW): Promise<InitDataError> {
  const error = await rejection(() => verify(raw, botToken, now), `initData ${JSON.stringify(raw)}`);
  expect(error).toBeInstanceOf(InitDataError);
  return error as InitDataError;
}

const entriesOf = (raw: string): [string, string][] => [...new URLSearchParams(raw).entries()];
const queryOf = (entries: [string, string][]): string => new URLSearchParams(entries).toString();

type Mutation =
  | { kind: 'value'; at: number; value: string }
  | { kind: 'rename'; at: number; key: string }
  | { kind: 'drop'; at: number }
  | { kind: 'duplicate'; at: number; value: string }
  | { kind: 'add'; key: string; value: string }
  | { kind: 'hash'; at: number; digit: number }
  | { kind: 'hashText'; text: string }
  | { kind: 'truncate'; keep: number }
  | { kind: 'junk'; at: number; junk: string }
  | { kind: 'otherToken'; token: string };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('value' as const), at: fc.nat(), value: fc.string({ maxLength: 30 }) }),
  fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), key: fc.string({ maxLength: 12 }) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), value: fc.string({ maxLength: 30 }) }),
  fc.record({
    kind: fc.constant('add' as const),
    key: fc.string({ minLength: 1, maxLength: 12 }),
    value: fc.string({ maxLength: 30 }),
  }),
  fc.record({ kind: fc.constant('hash' as const), at: fc.integer({ min: 0, max: 63 }), digit: fc.nat(15) }),
  fc.record({ kind: fc.constant('hashText' as const), text: fc.string({ maxLength: 70 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({
    kind: fc.constant('junk' as const),
    at: fc.nat(),
    junk: fc.string({ minLength: 1, maxLength: 20 }),
  }),
  fc.record({ kind: fc.constant('otherToken' as const), token: botTokenArb }),
);

/**
 * Applies a mutation to signed initData; undefined when the result still says the same signed thing
 * (same fields, same hash value), which the verifier rightly accepts.
 */
function mutate(
  raw: string,
  botToken: string,
  mutation: Mutation,
): { raw: string; botToken: string } | undefined {
  const entries = entriesOf(raw);
  const signedEntries = entries.filter(([key]) => key !== 'hash');
  const pick = (at: number) => at % entries.length;
  const changed = (next: string) => {
    const hashes = entriesOf(next).filter(([key]) => key === 'hash');
    // One hash of the same value over the same check string is the same signed message.
    const same =
      hashes.length === 1 &&
      hashes[0]?.[1] === new URLSearchParams(raw).get('hash') &&
      initDataCheckString(new URLSearchParams(next)) === initDataCheckString(new URLSearchParams(raw));
    return same ? undefined : { raw: next, botToken };
  };
  switch (mutation.kind) {
    case 'value': {
      const next = entries.map(([key, value], i): [string, string] => [
        key,
        i === pick(mutation.at) ? mutation.value : value,
      ]);
      return changed(queryOf(next));
    }
    case 'rename': {
      const next = entries.map(([key, value], i): [string, string] => [
        i === pick(mutation.at) ? mutation.key : key,
        value,
      ]);
      return changed(queryOf(next));
    }
    case 'drop':
      return changed(queryOf(entries.filter((_, i) => i !== pick(mutation.at))));
    case 'duplicate': {
      const [key = ''] = entries[pick(mutation.at)] ?? [];
      return changed(queryOf([...entries, [key, mutation.value]]));
    }
    case 'add':
      return changed(queryOf([...entries, [mutation.key, mutation.value]]));
    case 'hash': {
      const hash = new URLSearchParams(raw).get('hash') ?? '';
      const digit = mutation.digit.toString(16);
      if (hash[mutation.at] === digit) return undefined;
      const next = `${hash.slice(0, mutation.at)}${digit}${hash.slice(mutation.at + 1)}`;
      return changed(queryOf([...signedEntries, ['hash', next]]));
    }
    case 'hashText':
      return changed(queryOf([...signedEntries, ['hash', mutation.text]]));
    case 'truncate':
      return changed(raw.slice(0, mutation.keep % raw.length));
    case 'junk': {
      const at = mutation.at % (raw.length + 1);
      return changed(`${raw.slice(0, at)}${mutation.junk}${raw.slice(at)}`);
    }
    case 'otherToken':
      return mutation.token === botToken ? undefined : { raw, botToken: mutation.token };
  }
}

describe('Telegram initData', () => {
  it(
    'validly signed initData verifies as its user, in any order of its fields',
    () => {
      fc.assert(
        fc.property(freshLaunchArb, fc.func(fc.integer()), (launch, order) => {
          const raw = signInitData(launch.fields, launch.botToken);
          const shuffled = entriesOf(raw)
            .map((entry, i) => ({ entry, rank: order(i) }))
            .sort((a, b) => a.rank - b.rank)
            .map(({ entry }) => entry);
          for (const spelling of [raw, queryOf(shuffled)]) {
            const verified = verify(spelling, launch.botToken);
            expect(verified.user).toEqual(TelegramUser.parse(launch.user));
            expect(verified.authDate).toBe(launch.authDate);
            expect(verified.chatInstance).toBe(launch.fields.chat_instance);
            expect(verified.startParam).toBe(launch.fields.start_param);
          }
        }),
        runs(200),
      );
    },
    timeoutFor(2),
  );

  it(
    'any change to signed initData, or another bot token, is refused with an InitDataError',
    async () => {
      await fc.assert(
        fc.asyncProperty(freshLaunchArb, mutationArb, async (launch, mutation) => {
          const raw = signInitData(launch.fields, launch.botToken);
          const mutated = mutate(raw, launch.botToken, mutation);
          fc.pre(mutated !== undefined);
          const { raw: changed, botToken } = mutated as NonNullable<typeof mutated>;
          const error = await refusal(changed, botToken);
          expect(['malformed', 'hash_mismatch']).toContain(error.code);
        }),
        runs(300),
      );
    },
    timeoutFor(2),
  );

  it(
    'signed initData that is too old, from the future, or without a valid auth_date or user is refused with its code',
    async () => {
      const staleOrFuture = fc.oneof(
        fc.integer({ min: 1, max: NOW - MAX_AGE - 1 }).map((date) => ({ date, code: 'expired' as const })),
        fc
          .integer({ min: NOW + FUTURE_SKEW + 1, max: Number.MAX_SAFE_INTEGER })
          .map((date) => ({ date, code: 'from_future' as const })),
      );
      const badDate = fc
        .oneof(
          fc.constantFrom('', '0', '-5', '1.5', 'NaN', 'Infinity', '9007199254740993', '1e400'),
          fc.string({ maxLength: 12 }),
        )
        .filter((text) => {
          const value = Number(text);
          return !Number.isSafeInteger(value) || value <= 0;
        });
      const badUser = fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.json().filter((text) => !TelegramUser.safeParse(JSON.parse(text)).success),
      );
      await fc.assert(
        fc.asyncProperty(
          freshLaunchArb,
          fc.oneof(
            staleOrFuture.map(({ date, code }) => ({ field: 'auth_date', value: String(date), code })),
            badDate.map((value) => ({ field: 'auth_date', value, code: 'malformed' as const })),
            badUser.map((value) => ({ field: 'user', value, code: 'no_user' as const })),
          ),
          async (launch, { field, value, code }) => {
            const raw = signInitData({ ...launch.fields, [field]: value }, launch.botToken);
            expect((await refusal(raw, launch.botToken)).code).toBe(code);
          },
        ),
        runs(200),
      );
    },
    timeoutFor(2),
  );

  it(
    'the age limit is checked against the clock it is given',
    async () => {
      await fc.assert(
        fc.asyncProperty(freshLaunchArb, fc.integer({ min: 1, max: 10 ** 9 }), async (launch, late) => {
          const raw = signInitData(launch.fields, launch.botToken);
          const now = launch.authDate + MAX_AGE + late;
          expect((await refusal(raw, launch.botToken, now)).code).toBe('expired');
          const early = launch.authDate - FUTURE_SKEW - late;
          expect((await refusal(raw, launch.botToken, early)).code).toBe('from_future');
        }),
        runs(100),
      );
    },
    timeoutFor(2),
  );

  it(
    'random strings are refused with an InitDataError, never a crash',
    async () => {
      const hashLike = fc
        .tuple(fc.string({ maxLength: 120 }), fc.stringMatching(/^[0-9a-f]{64}$/))
        .map(([query, hash]) => `${query}&hash=${hash}`);
      const anyText = fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.webQueryParameters(),
        hashLike,
      );
      await fc.assert(
        fc.asyncProperty(anyText, botTokenArb, async (raw, botToken) => {
          await refusal(raw, botToken);
        }),
        runs(300),
      );
    },
    timeoutFor(2),
  );
});
