import type { Message } from 'grammy/types';
import { afterEach, describe, expect, it } from 'vitest';
import type { Summarizer } from '../../src/summarize/types.js';
import { parseTelegramHtml } from '../support/bot-api.js';
import { type Harness, startHarness } from '../support/harness.js';

const TEXT =
  'The harbour ferry now runs every forty minutes. Evening sailings last until eleven on weekends. ' +
  'Season tickets stay valid. Prices do not change this year. The timetable is at every pier and on the port website.';
const user = { id: 800, is_bot: false as const, first_name: 'Lee' };
const RECEIPT = 'ab'.repeat(32);

let h: Harness;
afterEach(() => h?.close());

/** The fake summarizer, reporting what the network would: a receipt and the worker's attestation kind. */
const withReceipts = (fake: Summarizer): Summarizer => ({
  pricePerToken: () => fake.pricePerToken(),
  summarize: async (request) => ({
    ...(await fake.summarize(request)),
    receiptId: RECEIPT,
    workerId: 'cd'.repeat(32),
    attestationKind: 'tdx',
  }),
});

const lastText = () => {
  const call = h.api.sent.filter((c) => ['sendMessage', 'editMessageText'].includes(c.method)).at(-1);
  return call?.params.parse_mode === 'HTML'
    ? parseTelegramHtml(String(call.params.text))
    : String(call?.params.text);
};

describe('/settings', () => {
  it('changes the user’s language and length with buttons, and later summaries use them', async () => {
    h = await startHarness();
    await h.bot.handleUpdate(h.api.command(user, 'settings'));
    const panel = h.api.sentMessages(user.id)[0] as Message;
    expect(panel.text).toBe(
      'Your summary settings (private chats and inline mode)\n\nLanguage: the text’s own\nLength: bullets\n\n' +
        'The bot’s language: English',
    );
    expect(panel.reply_markup?.inline_keyboard.map((row) => row.map((button) => button.text))).toEqual([
      ['✓ Text’s own', 'EN', 'RU'],
      ['short', '✓ bullets', 'detailed'],
      ['✓ English', 'Русский'],
    ]);
    await h.bot.handleUpdate(h.api.callbackQuery(user, panel, 'us:language:ru'));
    await h.bot.handleUpdate(h.api.callbackQuery(user, panel, 'us:length:detailed'));
    expect(await h.store.getUserSettings(user.id)).toEqual({
      userId: user.id,
      language: 'ru',
      length: 'detailed',
    });
    expect(h.api.message(user.id, panel.message_id)?.text).toContain('Language: Russian\nLength: detailed');
    await h.bot.handleUpdate(h.api.privateText(user, TEXT));
    expect(h.summarizer.requests[0]).toMatchObject({ language: 'ru', length: 'detailed' });
  });

  it('refuses values that are not offered', async () => {
    h = await startHarness();
    await h.bot.handleUpdate(h.api.command(user, 'settings'));
    const panel = h.api.sentMessages(user.id)[0] as Message;
    await expect(h.bot.handleUpdate(h.api.callbackQuery(user, panel, 'us:length:endless'))).rejects.toThrow();
    expect(await h.store.getUserSettings(user.id)).toBeUndefined();
  });
});

describe('/history and /privacy', () => {
  it('say so when there are no summaries yet', async () => {
    h = await startHarness();
    await h.bot.handleUpdate(h.api.command(user, 'history'));
    expect(lastText()).toBe('You have no summaries yet.');
    await h.bot.handleUpdate(h.api.command(user, 'privacy'));
    expect(lastText()).toContain('Who can see what');
    expect(lastText()).toContain('You have no summaries yet.');
  });

  it('list tokens, cost and receipt, and name the attestation of the last summary’s worker', async () => {
    h = await startHarness({ settings: { freeDailySummaries: 0 }, decorate: withReceipts });
    await h.store.addLedgerEntry({
      key: 'ton:1:aa',
      account: user.id,
      amount: 10n ** 9n,
      kind: 'ton',
      at: 0,
    });
    await h.bot.handleUpdate(h.api.privateText(user, TEXT));
    const [job] = await h.store.recentJobs(user.id, 1);
    expect(job).toMatchObject({ paidBy: 'credit', receiptId: RECEIPT, attestationKind: 'tdx' });
    await h.bot.handleUpdate(h.api.command(user, 'history'));
    const history = lastText();
    expect(history).toContain(`text · ${job?.promptTokens}+${job?.completionTokens} tokens · 0.0`);
    expect(history).toContain(`receipt ${RECEIPT}`);
    await h.bot.handleUpdate(h.api.command(user, 'privacy'));
    expect(lastText()).toContain(
      `Your last summary was served by a worker attested as tdx; its receipt: ${RECEIPT}.`,
    );
    // History holds no content.
    expect(history).not.toContain('ferry');
  });
});
