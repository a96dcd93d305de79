import fc from 'fast-check';
import { BotError, GrammyError } from 'grammy';
import type { Chat, ChatMember, Message, Update, User } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runs, timeoutFor } from '../../../shared/test/property/support.js';
import { extractArticle } from '../../src/links/extract.js';
import { FetchPageError } from '../../src/links/fetch-page.js';
import type { ReadArticle } from '../../src/links/read-article.js';
import { type Harness, startHarness } from '../support/harness.js';

/**
 * Random and mutated Telegram updates through the whole bot (handleUpdate, the recording Bot API, the
 * in-memory store, the fake summarizer): the bot only fails an update on an API refusal its error boundary
 * logs, never sends the Bot API a payload Telegram would refuse, and credits a Stars payment only in
 * Stars, once per charge, for what was paid.
 */

const NANOTONS_PER_STAR = 4_000_000n;
const STARS_PACKAGES = [50, 250];
const SETTINGS = {
  nanotonsPerStar: NANOTONS_PER_STAR,
  starsPackages: STARS_PACKAGES,
  minTextLength: 40,
  confirmAboveChars: 3_000,
  tapWaitMs: 200,
  inlineWaitMs: 200,
};

/**
 * Refusals that depend on the world, not on the payload: the bot cannot know them in advance, and its error
 * boundary logs them. Everything else Telegram refuses is a payload the bot should not have sent.
 */
const WORLD_REFUSALS = [
  /chat not found/,
  /message to edit not found/,
  /message can't be edited/,
  /user not found/,
  /message is not modified/,
  /CHARGE_NOT_FOUND/,
  /CHARGE_ALREADY_REFUNDED/,
];

// ---- Update shapes ----

/** Unknown fields Telegram may add later: the bot must ignore them. */
const futureFields = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 8 }).map((key) => `future_${key}`),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 2 },
);

const withFuture = <T extends object>(shape: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.tuple(shape, futureFields).map(([value, extra]) => ({ ...extra, ...value }));

const nameText = fc.string({ unit: 'grapheme', maxLength: 64 });

const userArb: fc.Arbitrary<User> = withFuture(
  fc.record(
    {
      id: fc.integer({ min: 1001, max: 1004 }),
      is_bot: fc.boolean(),
      first_name: nameText,
      last_name: nameText,
      username: fc.stringMatching(/^[a-z][a-z0-9_]{4,31}$/),
      language_code: fc.constantFrom('en', 'ru', 'de', 'pt-br', 'zz', ''),
      is_premium: fc.constant(true as const),
    },
    { requiredKeys: ['id', 'is_bot', 'first_name'] },
  ),
);

const channelArb: fc.Arbitrary<Chat.ChannelChat> = fc.record(
  {
    id: fc.constantFrom(-1_001_000_000_001, -1_001_000_000_002),
    type: fc.constant('channel' as const),
    title: nameText,
    username: fc.stringMatching(/^[a-z][a-z0-9_]{4,31}$/),
  },
  { requiredKeys: ['id', 'type', 'title'] },
);

const groupArb: fc.Arbitrary<Chat.GroupChat | Chat.SupergroupChat> = fc.record({
  id: fc.constantFrom(-4001, -1_001_000_000_009),
  type: fc.constantFrom('group' as const, 'supergroup' as const),
  title: nameText,
}) as fc.Arbitrary<Chat.GroupChat | Chat.SupergroupChat>;

const COMMANDS = ['start', 'help', 'topup', 'balance', 'settings', 'history', 'privacy', 'nonsense'];

/** Texts: short and long, commands with payloads, links, markup-like characters, odd Unicode. */
const textArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc
    .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), fc.integer({ min: 2, max: 400 }))
    .map(([piece, times]) => piece.repeat(times)),
  fc
    .tuple(
      fc.constantFrom(...COMMANDS),
      fc.constantFrom('', '@cocoon_summary_bot', '@other_bot'),
      fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
    )
    .map(
      ([command, mention, payload]) => `/${command}${mention}${payload === undefined ? '' : ` ${payload}`}`,
    ),
  fc
    .tuple(
      fc.string({ maxLength: 100 }),
      fc.webUrl({ withQueryParameters: true }),
      fc.string({ maxLength: 400 }),
    )
    .map(([before, url, after]) => `${before} ${url} ${after}`),
  fc.constantFrom('<b>&amp;</b>', '</a><a href="x">', '&#0;', '\u0000', '\u202e', '👩‍👩‍👧‍👦'.repeat(600)),
);

const entitiesArb = (text: string) =>
  fc.oneof(
    // What Telegram marks: commands at the start, links where they are.
    fc.constant([
      ...(text.startsWith('/')
        ? [{ type: 'bot_command' as const, offset: 0, length: text.split(/[\s@]/, 1)[0]?.length ?? 1 }]
        : []),
      ...[...text.matchAll(/https?:\/\/\S+/g)].map((found) => ({
        type: 'url' as const,
        offset: found.index,
        length: found[0].length,
      })),
    ]),
    // Mutated: anywhere, any length, also past the end of the text.
    fc.array(
      fc.record(
        {
          type: fc.constantFrom(
            'url' as const,
            'bot_command' as const,
            'text_link' as const,
            'bold' as const,
          ),
          offset: fc.integer({ min: 0, max: text.length + 5 }),
          length: fc.integer({ min: 0, max: text.length + 5 }),
          url: fc.webUrl(),
        },
        { requiredKeys: ['type', 'offset', 'length'] },
      ),
      { maxLength: 3 },
    ),
  );

interface MessageSpec {
  chat: Chat;
  from?: User;
  text?: string;
  entities?: readonly unknown[];
  caption?: string;
  forwardedFrom?: Chat.ChannelChat;
  extra: Record<string, unknown>;
}

const messageSpec = (chat: fc.Arbitrary<Chat>, from: fc.Arbitrary<User | undefined>) =>
  fc
    .record({ chat, from, text: fc.option(textArb, { nil: undefined, freq: 5 }), extra: futureFields })
    .chain(({ text, ...rest }) =>
      fc.record({
        base: fc.constant(rest),
        text: fc.constant(text),
        entities:
          text === undefined ? fc.constant(undefined) : fc.option(entitiesArb(text), { nil: undefined }),
        caption: fc.option(textArb, { nil: undefined, freq: 8 }),
        forwardedFrom: fc.option(channelArb, { nil: undefined, freq: 4 }),
      }),
    )
    .map(({ base, ...fields }): MessageSpec => ({ ...base, ...fields }));

const privateChatOf = (user: User): Chat.PrivateChat => ({
  id: user.id,
  type: 'private',
  first_name: user.first_name,
});

const memberStatus = fc.constantFrom('left', 'member', 'kicked', 'administrator', 'creator');

const payloadArb = fc.oneof(
  fc.constantFrom(...STARS_PACKAGES, 1, 999).map((stars) => `topup:${stars}`),
  fc.stringMatching(/^[0-9a-f]{32}$/).map((id) => `job:${id}`),
  fc.string({ maxLength: 140 }),
);

const starsAmount = fc.oneof(fc.constantFrom(...STARS_PACKAGES), fc.integer({ min: 1, max: 100_000 }));

type UpdateSpec =
  | { kind: 'message'; message: MessageSpec }
  | { kind: 'channel_post'; message: MessageSpec }
  | { kind: 'edited_channel_post'; message: MessageSpec; editLatest: boolean }
  | {
      kind: 'callback_query';
      from: User;
      data: string | number | undefined;
      message: MessageSpec | number | undefined;
    }
  | { kind: 'inline_query'; from: User; query: string }
  | {
      kind: 'my_chat_member';
      chat: Chat;
      from: User;
      old: string;
      now: string;
      rights: boolean[];
      fromIsAdmin: boolean;
    }
  | { kind: 'pre_checkout_query'; from: User; currency: string; total: number; payload: string }
  | {
      kind: 'successful_payment';
      from: User;
      currency: string;
      total: number;
      payload: string;
      replay: boolean;
    };

type PreCheckoutSpec = Extract<UpdateSpec, { kind: 'pre_checkout_query' }>;
type PaymentSpec = Extract<UpdateSpec, { kind: 'successful_payment' }>;

const preCheckoutSpec: fc.Arbitrary<PreCheckoutSpec> = fc.record({
  kind: fc.constant('pre_checkout_query' as const),
  from: userArb,
  currency: fc.constantFrom('XTR', 'XTR', 'USD'),
  total: starsAmount,
  payload: payloadArb,
});

/** A payment Telegram reports, for any invoice payload; `replay` delivers the last payment again instead. */
const paymentSpec: fc.Arbitrary<PaymentSpec> = fc.record({
  kind: fc.constant('successful_payment' as const),
  from: userArb.filter((user) => !user.is_bot),
  currency: fc.constantFrom('XTR', 'XTR', 'EUR'),
  total: starsAmount,
  payload: payloadArb,
  replay: fc.boolean(),
});

const updateSpec: fc.Arbitrary<UpdateSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: userArb.chain((user) =>
      messageSpec(fc.constant(privateChatOf(user)), fc.constant(user)).map((message) => ({
        kind: 'message' as const,
        message,
      })),
    ),
  },
  {
    weight: 1,
    arbitrary: messageSpec(groupArb, userArb).map((message) => ({ kind: 'message' as const, message })),
  },
  {
    weight: 3,
    arbitrary: messageSpec(channelArb, fc.constant(undefined)).map((message) => ({
      kind: 'channel_post' as const,
      message,
    })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ message: messageSpec(channelArb, fc.constant(undefined)), editLatest: fc.boolean() })
      .map((fields) => ({ kind: 'edited_channel_post' as const, ...fields })),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('callback_query' as const),
      from: userArb,
      // A number picks one of the buttons the bot has sent so far; a string is forged.
      data: fc.option(
        fc.oneof(
          fc.nat(),
          fc.string({ maxLength: 64 }),
          fc.constantFrom(
            'summary',
            'topup:50',
            'topup:7',
            'job:go:',
            'us:locale:ru',
            'cs:-1001000000001:enabled',
          ),
        ),
        { nil: undefined, freq: 8 },
      ),
      // A number picks a message the bot sent or the last channel post; a spec is a message it never saw.
      message: fc.option(
        fc.oneof(
          fc.nat(),
          messageSpec(fc.oneof(channelArb, userArb.map(privateChatOf)), fc.constant(undefined)),
        ),
        { nil: undefined, freq: 6 },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('inline_query' as const), from: userArb, query: textArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('my_chat_member' as const),
      chat: fc.oneof(channelArb, groupArb),
      from: userArb,
      old: memberStatus,
      now: memberStatus,
      rights: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
      fromIsAdmin: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: preCheckoutSpec,
  },
  {
    weight: 1,
    arbitrary: paymentSpec,
  },
);

// ---- Running updates ----

/** A reader for links that never touches the network: some pages have an article, some are refused. */
const readArticle: ReadArticle = async (url) => {
  if (url.length % 3 === 0) throw new FetchPageError('refused-address', 'not on the public internet');
  const paragraph = `A page at ${url} that says something worth a summary. `.repeat(8);
  return extractArticle({
    url,
    contentType: 'text/html',
    text: `<html><body><article><p>${paragraph}</p></article></body></html>`,
  });
};

interface Refusal {
  method: string;
  description: string;
  inline: boolean;
}

interface PaymentSent {
  chargeId: string;
  currency: string;
  total: number;
  payload: string;
  userId: number;
}

describe('the bot under random Telegram updates', () => {
  let h: Harness;
  const refusals: Refusal[] = [];
  let lastPayment: Update | undefined;
  let lastChannelPost: Message | undefined;

  beforeAll(async () => {
    h = await startHarness({ settings: SETTINGS, readArticle });
    // The channels exist for the API; whether the bot is in one, and with which rights, the updates decide.
    for (const id of [-1_001_000_000_001, -1_001_000_000_002]) h.api.channel(id, `Channel ${id}`);
    h.bot.api.config.use(async (prev, method, payload, signal) => {
      const response = await prev(method, payload, signal);
      if (!response.ok) {
        const inline = (payload as { inline_message_id?: unknown }).inline_message_id !== undefined;
        refusals.push({ method, description: response.description, inline });
      }
      return response;
    });
  });

  afterAll(() => h.close());

  const buttonsSent = (): string[] =>
    h.api.calls.flatMap((call) => {
      const keyboard = (
        call.params.reply_markup as { inline_keyboard?: { callback_data?: string }[][] } | undefined
      )?.inline_keyboard;
      return (keyboard ?? [])
        .flat()
        .flatMap((button) => (button.callback_data === undefined ? [] : [button.callback_data]));
    });

  let nextMessageId = 50_000;

  const pick = <T>(items: readonly T[], index: number): T | undefined =>
    items[index % Math.max(1, items.length)];

  function message(spec: MessageSpec): Message {
    const { chat, from, text, entities, caption, forwardedFrom, extra } = spec;
    return {
      ...extra,
      message_id: nextMessageId++,
      date: 1_764_000_000,
      chat,
      ...(from === undefined ? {} : { from }),
      ...(chat.type === 'channel' ? { sender_chat: chat } : {}),
      ...(text === undefined ? {} : { text }),
      ...(entities === undefined ? {} : { entities }),
      ...(caption === undefined || text !== undefined ? {} : { caption }),
      ...(forwardedFrom === undefined
        ? {}
        : { forward_origin: { type: 'channel', chat: forwardedFrom, message_id: 7, date: 1_763_000_000 } }),
    } as Message;
  }

  function member(user: User, status: string, rights: boolean[]): ChatMember {
    if (status === 'administrator') {
      const [post, edit, manage] = rights;
      return {
        ...h.api.botAdministrator({
          can_post_messages: post,
          can_edit_messages: edit,
          can_manage_chat: manage,
        }),
        user,
      };
    }
    if (status === 'kicked') return { status: 'kicked', user, until_date: 0 };
    return { status, user } as ChatMember;
  }

  /** The update for a spec; payments sent are noted in `payments`. */
  function build(spec: UpdateSpec, payments: PaymentSent[]): Update {
    switch (spec.kind) {
      case 'message':
        return h.api.update({ message: message(spec.message) as Update['message'] });
      case 'channel_post': {
        lastChannelPost = message(spec.message);
        return h.api.update({ channel_post: lastChannelPost as Update['channel_post'] });
      }
      case 'edited_channel_post': {
        const fresh = message(spec.message);
        // An edit of the last post (in its chat), or of a post the bot never saw.
        const edited =
          spec.editLatest && lastChannelPost !== undefined
            ? {
                ...fresh,
                chat: lastChannelPost.chat,
                sender_chat: lastChannelPost.chat,
                message_id: lastChannelPost.message_id,
              }
            : fresh;
        return h.api.update({
          edited_channel_post: { ...edited, edit_date: 1_764_000_100 } as Update['edited_channel_post'],
        });
      }
      case 'callback_query': {
        const data = typeof spec.data === 'number' ? pick(buttonsSent(), spec.data) : spec.data;
        const known = [...h.api.sentMessages(), ...(lastChannelPost === undefined ? [] : [lastChannelPost])];
        const shown =
          typeof spec.message === 'number'
            ? pick(known, spec.message)
            : spec.message && message(spec.message);
        return h.api.update({
          callback_query: {
            id: `cbq-${nextMessageId++}`,
            from: spec.from,
            chat_instance: 'instance',
            ...(data === undefined ? {} : { data }),
            ...(shown === undefined ? { inline_message_id: 'inline-1' } : { message: shown }),
          },
        });
      }
      case 'inline_query':
        return h.api.inlineQuery(spec.from, spec.query);
      case 'my_chat_member':
        if (spec.fromIsAdmin)
          h.api.setMember(spec.chat.id, { status: 'creator', user: spec.from, is_anonymous: false });
        return h.api.myChatMember(
          spec.chat,
          spec.from,
          member(h.api.botInfo, spec.old, spec.rights),
          member(h.api.botInfo, spec.now, spec.rights),
        );
      case 'pre_checkout_query':
        return h.api.preCheckoutQuery(spec.from, spec.payload, spec.total, spec.currency);
      case 'successful_payment': {
        if (spec.replay && lastPayment !== undefined) {
          // Telegram delivering the same payment again (a retried webhook): same charge id, new update id.
          return h.api.update({ message: lastPayment.message as Update['message'] });
        }
        const update = h.api.successfulPayment(spec.from, spec.payload, spec.total, spec.currency);
        const paid = update.message?.successful_payment;
        if (paid === undefined) throw new Error('the recording API built no payment');
        payments.push({
          chargeId: paid.telegram_payment_charge_id,
          currency: paid.currency,
          total: paid.total_amount,
          payload: paid.invoice_payload,
          userId: spec.from.id,
        });
        lastPayment = update;
        return update;
      }
    }
  }

  /** Handles an update as the runner does: a failure must be an API refusal for the error boundary. */
  async function handle(update: Update): Promise<void> {
    try {
      await h.bot.handleUpdate(update);
    } catch (error) {
      expect(error, `update ${JSON.stringify(update)}`).toBeInstanceOf(BotError);
      const cause = (error as BotError).error;
      if (!(cause instanceof GrammyError)) throw cause;
      await h.bot.errorHandler(error as Parameters<Harness['bot']['errorHandler']>[0]);
    }
  }

  /** Work a handler started in the background (a summary a tap waits for) finishes before the checks. */
  async function settle(): Promise<void> {
    for (let round = 0, seen = -1; round < 100 && seen !== h.api.calls.length; round++) {
      seen = h.api.calls.length;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it(
    'handles any sequence of updates without a crash and without a payload Telegram would refuse',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(updateSpec, { minLength: 1, maxLength: 8 }), async (specs) => {
          refusals.length = 0;
          for (const spec of specs) await handle(build(spec, []));
          await settle();
          const invalid = refusals.filter(
            // The recording API keeps no inline messages, so it cannot edit one (Telegram can).
            ({ description, inline }) => !inline && !WORLD_REFUSALS.some((world) => world.test(description)),
          );
          expect(invalid).toEqual([]);
        }),
        runs(100),
      );
    },
    timeoutFor(200),
  );

  it(
    'credits a Stars payment once per charge, in Stars only, for what was paid; a job that is gone is refunded',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(paymentSpec, { minLength: 1, maxLength: 4 }), async (specs) => {
          const payments: PaymentSent[] = [];
          const users = [...new Set(specs.map((spec) => spec.from.id))];
          const before = await Promise.all(users.map((user) => h.store.balance(user)));
          for (const spec of specs) await handle(build(spec, payments));
          await settle();
          // Replays included, each charge moves the balance once: its credit, less its refund.
          for (const [i, user] of users.entries()) {
            let expected = before[i] as bigint;
            for (const paid of payments) {
              if (paid.userId !== user) continue;
              expected += (await h.store.ledgerEntry(`stars:${paid.chargeId}`))?.amount ?? 0n;
              expected += (await h.store.ledgerEntry(`refund:${paid.chargeId}`))?.amount ?? 0n;
            }
            expect(await h.store.balance(user)).toBe(expected);
          }
          for (const { chargeId, currency, total, payload, userId } of payments) {
            const credit = await h.store.ledgerEntry(`stars:${chargeId}`);
            const refund = await h.store.ledgerEntry(`refund:${chargeId}`);
            if (currency !== 'XTR') {
              expect(credit).toBeUndefined();
              expect(refund).toBeUndefined();
              continue;
            }
            expect(credit).toMatchObject({
              account: userId,
              amount: BigInt(total) * NANOTONS_PER_STAR,
              stars: total,
            });
            // No test job is ever pending here, so every job payment is for a job that is gone.
            if (payload.startsWith('job:') && /^job:[0-9a-f]{32}$/.test(payload)) {
              expect(refund).toMatchObject({ account: userId, amount: -BigInt(total) * NANOTONS_PER_STAR });
              expect(h.api.refunded(chargeId)).toBe(true);
            } else {
              expect(refund).toBeUndefined();
            }
          }
        }),
        runs(60),
      );
    },
    timeoutFor(100),
  );

  it(
    'answers a pre-checkout query yes only for an invoice the bot issued, for its price',
    async () => {
      await fc.assert(
        fc.asyncProperty(preCheckoutSpec, async (spec) => {
          h.api.clearCalls();
          await handle(build(spec, []));
          const [answer] = h.api.callsTo('answerPreCheckoutQuery');
          const offered = STARS_PACKAGES.map((stars) => `topup:${stars}`);
          const issued =
            spec.currency === 'XTR' &&
            offered.includes(spec.payload) &&
            spec.payload === `topup:${spec.total}`;
          expect(answer?.ok).toBe(issued);
        }),
        runs(100),
      );
    },
    timeoutFor(50),
  );
});
