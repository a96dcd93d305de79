import type { Chat, ChatMember, InlineKeyboardButton, Message } from 'grammy/types';
import { afterEach, describe, expect, it } from 'vitest';
import { createStarsTopUpLink } from '../../src/handlers/payments.js';
import { DEFAULT_CHANNEL_SETTINGS } from '../../src/store/types.js';
import { type Harness, startHarness } from '../support/harness.js';

const RATE = 4_000_000n; // nanotons per Star
const SENTENCE = 'The harbour ferry now runs every forty minutes, and evening sailings last until eleven. ';
const TEXT = SENTENCE.repeat(4); // above minTextLength (200), below confirmAboveChars
const LONG_TEXT = SENTENCE.repeat(40); // above confirmAboveChars (2,000)
const user = { id: 700, is_bot: false as const, first_name: 'Pat' };

let h: Harness;
afterEach(() => h?.close());

async function start(settings: Parameters<typeof startHarness>[0] = {}) {
  h = await startHarness({
    ...settings,
    settings: {
      nanotonsPerStar: RATE,
      confirmAboveChars: 2_000,
      freeDailySummaries: 1,
      ...settings.settings,
    },
  });
}

const buttons = (message: Message | undefined): InlineKeyboardButton[] =>
  message?.reply_markup?.inline_keyboard.flat() ?? [];

/** The Stars an invoice asks. */
const invoiceStars = (invoice: Record<string, unknown> | undefined) =>
  ((invoice?.prices ?? []) as { amount: number }[])[0]?.amount ?? 0;

const callbackData = (message: Message | undefined) =>
  buttons(message).map((button) => ('callback_data' in button ? button.callback_data : undefined));

describe('/topup and Stars payments', () => {
  it('offers the Stars packages and, when configured, the Mini App', async () => {
    await start({ settings: { starsPackages: [50, 250], miniAppUrl: 'https://app.example.org/topup' } });
    await h.bot.handleUpdate(h.api.command(user, 'topup'));
    const offer = h.api.sentMessages(user.id)[0];
    expect(buttons(offer)).toEqual([
      { text: '⭐ 50 → 0.2 TON', callback_data: 'topup:50' },
      { text: '⭐ 250 → 1 TON', callback_data: 'topup:250' },
      { text: '💎 Top up with TON', web_app: { url: 'https://app.example.org/topup' } },
    ]);
    await start();
    await h.bot.handleUpdate(h.api.command(user, 'topup'));
    expect(buttons(h.api.sentMessages(user.id)[0]).some((button) => 'web_app' in button)).toBe(false);
  });

  it('sends an XTR invoice, accepts only its own payloads at pre-checkout, and credits a payment once', async () => {
    await start();
    await h.bot.handleUpdate(h.api.command(user, 'topup'));
    await h.bot.handleUpdate(
      h.api.callbackQuery(user, h.api.sentMessages(user.id)[0] as Message, 'topup:250'),
    );
    expect(h.api.callsTo('sendInvoice')).toEqual([
      expect.objectContaining({
        chat_id: user.id,
        payload: 'topup:250',
        currency: 'XTR',
        provider_token: '',
        prices: [{ label: '250 Stars of summary credit', amount: 250 }],
      }),
    ]);

    const answers = async (payload: string, amount: number, currency?: string) => {
      h.api.clearCalls();
      await h.bot.handleUpdate(h.api.preCheckoutQuery(user, payload, amount, currency));
      return h.api.callsTo('answerPreCheckoutQuery')[0];
    };
    expect(await answers('topup:250', 250)).toMatchObject({ ok: true });
    for (const [payload, amount, currency] of [
      ['topup:250', 1, 'XTR'], // another amount than the package
      ['topup:7', 7, 'XTR'], // not a package
      ['topup:250', 250, 'USD'],
      ['job:00000000000000000000000000000000', 1, 'XTR'], // no such pending job
      ['free-stars-please', 250, 'XTR'],
    ] as const) {
      expect(await answers(payload, amount, currency)).toMatchObject({
        ok: false,
        error_message: 'This offer is no longer valid. Please open /topup again.',
      });
    }

    const payment = h.api.successfulPayment(user, 'topup:250', 250);
    await h.bot.handleUpdate(payment);
    await h.bot.handleUpdate(payment); // Telegram may deliver an update twice
    expect(await h.store.balance(user.id)).toBe(250n * RATE);
    // shapes Telegram never sends (a forged update) neither credit nor debit
    for (const [total, currency] of [
      [-250, 'XTR'],
      [2.5, 'XTR'],
      [250, 'USD'],
    ] as const) {
      await h.bot.handleUpdate(h.api.successfulPayment(user, 'topup:250', total, currency));
    }
    expect(await h.store.balance(user.id)).toBe(250n * RATE);
    expect(h.api.shownTexts(user.id)).toContain('✅ 1 TON added. Your credit: 1 TON.');
    await h.bot.handleUpdate(h.api.command(user, 'balance'));
    expect(h.api.shownTexts(user.id).at(-1)).toBe(
      'Your credit: 1 TON\nFree summaries left today: 1 of 1\n\nAdd credit with /topup.',
    );
  });

  it('makes Stars invoice links for the Mini App, for the offered packages only', async () => {
    await start();
    const settings = { starsPackages: [50, 250], nanotonsPerStar: RATE };
    expect(await createStarsTopUpLink(h.bot.api, 50, settings, 'en')).toMatch(/^https:\/\/t\.me\/\$/);
    expect(h.api.callsTo('createInvoiceLink')).toEqual([
      expect.objectContaining({ payload: 'topup:50', currency: 'XTR', provider_token: '' }),
    ]);
    expect(() => createStarsTopUpLink(h.bot.api, 51, settings, 'en')).toThrow(RangeError);
  });

  it('says clearly when the free quota is used up and the credit does not cover a summary', async () => {
    await start();
    await h.bot.handleUpdate(h.api.privateText(user, TEXT));
    await h.bot.handleUpdate(h.api.privateText(user, `${TEXT} Again.`));
    expect(h.summarizer.requests).toHaveLength(1);
    expect(h.api.shownTexts(user.id).at(-1)).toMatch(
      /^You have used your 1 free summaries for today, and your credit \(0 TON\) does not cover this summary \(up to 0\.\d+ TON\)\. Add credit with \/topup\.$/,
    );
  });

  it('shows the price of a long text and summarizes it on confirmation', async () => {
    await start();
    await h.bot.handleUpdate(h.api.privateText(user, LONG_TEXT));
    expect(h.summarizer.requests).toHaveLength(0);
    const offer = h.api.sentMessages(user.id)[0] as Message;
    // (⌈3520 / 3⌉ + 200 prompt + 320 bullet tokens) × 1000 nanotons, the fake network's price.
    expect(offer.text).toMatch(
      /^This text is long \(3,520 characters\)\. Its summary costs up to 0\.001694 TON\./,
    );
    expect(offer.text).toContain('It will use one of your 1 free summaries left today.');
    const [data] = callbackData(offer);
    expect(data).toMatch(/^job:go:[0-9a-f]{32}$/);
    await h.bot.handleUpdate(h.api.callbackQuery(user, offer, data as string));
    expect(h.summarizer.requests).toHaveLength(1);
    expect(h.api.message(user.id, offer.message_id)?.text).toContain('• The harbour ferry now runs');
    expect((await h.store.recentJobs(user.id, 1))[0]).toMatchObject({ paidBy: 'free' });
    h.api.clearCalls();
    await h.bot.handleUpdate(h.api.callbackQuery(user, offer, data as string));
    expect(h.api.callsTo('answerCallbackQuery')[0]).toMatchObject({
      text: 'This request expired. Please send the text again.',
      show_alert: true,
    });
    expect(h.summarizer.requests).toHaveLength(1);
    // The same text again: its stored summary, with no price to confirm.
    await h.bot.handleUpdate(h.api.privateText(user, LONG_TEXT));
    expect(h.api.sentMessages(user.id).at(-1)?.text).toContain('• The harbour ferry now runs');
    expect(h.summarizer.requests).toHaveLength(1);
  });

  it('lets a user without credit pay one long summary in Stars, keeping the rest as credit', async () => {
    await start({ settings: { freeDailySummaries: 0 } });
    await h.bot.handleUpdate(h.api.privateText(user, LONG_TEXT));
    const offer = h.api.sentMessages(user.id)[0] as Message;
    expect(offer.text).toContain('Your credit: 0 TON.');
    const [pay] = buttons(offer);
    expect(pay?.text).toMatch(/^⭐ Pay \d+ Stars and summarize$/);
    await h.bot.handleUpdate(
      h.api.callbackQuery(user, offer, (pay as { callback_data: string }).callback_data),
    );
    const invoice = h.api.callsTo('sendInvoice')[0];
    const stars = invoiceStars(invoice);
    expect(invoice).toMatchObject({ currency: 'XTR', payload: expect.stringMatching(/^job:[0-9a-f]{32}$/) });
    await h.bot.handleUpdate(h.api.preCheckoutQuery(user, String(invoice?.payload), stars));
    expect(h.api.callsTo('answerPreCheckoutQuery')[0]).toMatchObject({ ok: true });

    const payment = h.api.successfulPayment(user, String(invoice?.payload), stars);
    await h.bot.handleUpdate(payment);
    expect(h.summarizer.requests).toHaveLength(1);
    const [job] = await h.store.recentJobs(user.id, 1);
    expect(job).toMatchObject({ paidBy: 'credit' });
    expect(await h.store.balance(user.id)).toBe(BigInt(stars) * RATE - (job?.cost ?? 0n));
    expect(h.api.shownTexts(user.id).at(-1)).toContain('• The harbour ferry now runs');
    // Telegram delivers the update again: no second job, no refund of the one that ran, no second message
    const messages = h.api.sentMessages(user.id).length;
    await h.bot.handleUpdate(payment);
    expect(h.summarizer.requests).toHaveLength(1);
    expect(h.api.sentMessages(user.id)).toHaveLength(messages);
    expect(await h.store.balance(user.id)).toBe(BigInt(stars) * RATE - (job?.cost ?? 0n));
    expect(h.api.callsTo('refundStarPayment')).toEqual([]);
  });

  it('refunds the Stars of a paid job that failed, and of a job that is gone', async () => {
    await start({ settings: { freeDailySummaries: 0 } });
    await h.bot.handleUpdate(h.api.privateText(user, LONG_TEXT));
    const offer = h.api.sentMessages(user.id)[0] as Message;
    await h.bot.handleUpdate(h.api.callbackQuery(user, offer, callbackData(offer)[0] as string));
    const invoice = h.api.callsTo('sendInvoice')[0];
    const stars = invoiceStars(invoice);
    h.summarizer.failNext();
    const payment = h.api.successfulPayment(user, String(invoice?.payload), stars);
    await h.bot.handleUpdate(payment);
    const chargeId = payment.message?.successful_payment?.telegram_payment_charge_id as string;
    expect(h.api.refunded(chargeId)).toBe(true);
    expect(await h.store.balance(user.id)).toBe(0n);
    expect(h.api.shownTexts(user.id)).toContain(`The summary failed, so your ${stars} ⭐ were refunded.`);
    await h.bot.handleUpdate(payment); // a repeated update refunds nothing twice
    expect(h.api.callsTo('refundStarPayment')).toHaveLength(1);
    expect(await h.store.balance(user.id)).toBe(0n);

    // The pending job was taken by the failed attempt: paying for it again is refunded at once.
    const late = h.api.successfulPayment(user, String(invoice?.payload), stars);
    await h.bot.handleUpdate(late);
    expect(h.api.refunded(late.message?.successful_payment?.telegram_payment_charge_id as string)).toBe(true);
    expect(h.api.shownTexts(user.id).at(-1)).toBe('This request expired. Please send the text again.');
    expect(await h.store.balance(user.id)).toBe(0n);
    expect(h.logs.join('\n')).not.toContain('harbour ferry');
  });
});

describe('who pays for channel summaries', () => {
  const admin = { id: 710, is_bot: false as const, first_name: 'Ada' };
  const POST = SENTENCE.repeat(8);

  async function channelWithPost(payer: 'reader' | 'sponsor') {
    const channel = h.api.channel(-1005550001, 'Harbour') as Chat.ChannelChat;
    h.api.setMember(channel.id, { status: 'creator', user: admin, is_anonymous: false } as ChatMember);
    h.api.setBotMember(channel.id, h.api.botAdministrator());
    await h.store.saveChannel({
      ...DEFAULT_CHANNEL_SETTINGS,
      chatId: channel.id,
      title: 'Harbour',
      payer,
      canEditMessages: true,
      active: true,
    });
    const update = h.api.channelPost(channel, POST);
    await h.bot.handleUpdate(update);
    return h.api.message(channel.id, update.channel_post?.message_id ?? 0) as Message;
  }

  it('tells a reader without free summaries or credit how to get them', async () => {
    await start({ settings: { freeDailySummaries: 0 } });
    const post = await channelWithPost('reader');
    await h.bot.handleUpdate(h.api.callbackQuery(user, post, 'summary'));
    expect(h.api.callsTo('answerCallbackQuery')[0]).toMatchObject({
      text: 'No free summaries left today. Add credit in the bot with /topup to read this summary.',
      show_alert: true,
    });
    expect(h.summarizer.requests).toHaveLength(0);
  });

  it('charges the sponsor budget when the channel pays', async () => {
    await start({ settings: { freeDailySummaries: 0 } });
    const post = await channelWithPost('sponsor');
    await h.store.addLedgerEntry({
      key: 'ton:1:ab',
      account: post.chat.id,
      amount: RATE,
      kind: 'ton',
      at: 0,
    });
    await h.bot.handleUpdate(h.api.callbackQuery(user, post, 'summary'));
    expect(h.summarizer.requests).toHaveLength(1);
    const [job] = await h.store.recentJobs(user.id, 1);
    expect(job).toMatchObject({ paidBy: 'sponsor', account: post.chat.id });
    expect(await h.store.balance(post.chat.id)).toBe(RATE - (job?.cost ?? 0n));
    expect(await h.store.balance(user.id)).toBe(0n);
  });
});
