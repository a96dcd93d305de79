import type { Chat, ChatMember, Message } from 'grammy/types';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CHANNEL_SETTINGS } from '../../src/store/types.js';
import { parseTelegramHtml } from '../support/bot-api.js';
import { type Harness, startHarness } from '../support/harness.js';

const LONG_POST =
  'Starting Monday, the ferry between the harbour and the islands runs every 40 minutes instead of every hour. ' +
  'The port authority says the change follows a year of record passenger numbers and two new boats. ' +
  'Evening sailings are extended until 23:00 on Fridays and Saturdays. ' +
  'Season tickets bought before the change stay valid, and prices do not change this year. ' +
  'The timetable is published on the port website and at every pier. '.repeat(3);
const SHORT_POST = 'Good morning! Coffee is ready in the harbour café.';

let h: Harness;
let channel: Chat.ChannelChat;
const admin = { id: 900, is_bot: false as const, first_name: 'Ada' };
const reader = { id: 901, is_bot: false as const, first_name: 'Rita' };

beforeEach(async () => {
  h = await startHarness({ settings: { tapWaitMs: 1_000 } });
  channel = h.api.channel(-1001234567890, 'Harbour <News>') as Chat.ChannelChat;
  h.api.setMember(channel.id, { status: 'creator', user: admin, is_anonymous: false } as ChatMember);
});
afterEach(() => h.close());

async function addBot(rights: { can_edit_messages: boolean } = { can_edit_messages: true }) {
  const member = h.api.botAdministrator(rights);
  h.api.setBotMember(channel.id, member);
  await h.bot.handleUpdate(
    h.api.myChatMember(channel, admin, { status: 'left', user: h.api.botInfo }, member),
  );
}

async function post(text: string, extra: Partial<Message> = {}): Promise<Message> {
  const update = h.api.channelPost(channel, text, extra);
  await h.bot.handleUpdate(update);
  return h.api.message(channel.id, update.channel_post?.message_id ?? 0) as Message;
}

describe('joining a channel', () => {
  it('stores the channel and messages the admin who added the bot a settings link', async () => {
    await addBot();
    expect(await h.store.getChannel(channel.id)).toEqual({
      ...DEFAULT_CHANNEL_SETTINGS,
      chatId: channel.id,
      title: 'Harbour <News>',
      canEditMessages: true,
      active: true,
      addedBy: admin.id,
    });
    const [notice] = h.api.callsTo('sendMessage');
    expect(notice).toMatchObject({ chat_id: admin.id, parse_mode: 'HTML' });
    expect(String(notice?.text)).toContain('<b>Harbour &lt;News&gt;</b>');
    expect(String(notice?.text)).toContain(
      `href="https://t.me/${h.api.botInfo.username}?start=ch_${channel.id}"`,
    );
    expect(parseTelegramHtml(String(notice?.text))).not.toContain('⚠️');
  });

  it('tells the admin at once when the right to edit messages is missing', async () => {
    await addBot({ can_edit_messages: false });
    expect(parseTelegramHtml(String(h.api.callsTo('sendMessage')[0]?.text))).toContain(
      '⚠️ I can’t add the ✨ Summary button in Harbour <News>: I need the admin right “Edit messages of others”.',
    );
  });

  it('goes quiet when the admin never opened the bot', async () => {
    h.api.failNext('sendMessage', {
      error_code: 403,
      description: "Forbidden: bot can't initiate conversation with a user",
    });
    await addBot();
    expect((await h.store.getChannel(channel.id))?.active).toBe(true);
    expect(h.logs.join('\n')).toContain('could not message a channel admin');
  });

  it('stops when removed from the channel', async () => {
    await addBot();
    await h.bot.handleUpdate(
      h.api.myChatMember(channel, admin, h.api.botAdministrator(), { status: 'left', user: h.api.botInfo }),
    );
    expect((await h.store.getChannel(channel.id))?.active).toBe(false);
    h.api.clearCalls();
    await post(LONG_POST);
    expect(h.api.sent).toEqual([]);
  });
});

describe('the ✨ Summary button', () => {
  it('is added under a long post, keeping the buttons it has', async () => {
    await addBot();
    const existing = [[{ text: 'Timetable', url: 'https://port.example/timetable' }]];
    const message = await post(LONG_POST, { reply_markup: { inline_keyboard: existing } });
    expect(h.api.callsTo('editMessageReplyMarkup')).toEqual([
      {
        chat_id: channel.id,
        message_id: message.message_id,
        reply_markup: { inline_keyboard: [...existing, [{ text: '✨ Summary', callback_data: 'summary' }]] },
      },
    ]);
    expect(message.reply_markup?.inline_keyboard).toHaveLength(2);
  });

  it('is not added under short posts, in channels that turned it off, or twice', async () => {
    await addBot();
    await post(SHORT_POST);
    const settings = await h.store.getChannel(channel.id);
    if (settings === undefined) throw new Error('no settings');
    await h.store.saveChannel({ ...settings, enabled: false });
    await post(LONG_POST);
    await h.store.saveChannel({ ...settings, enabled: true });
    const withButton = await post(LONG_POST);
    await h.bot.handleUpdate(
      h.api.editedChannelPost(channel.id, withButton.message_id, `${LONG_POST} (updated)`),
    );
    expect(h.api.callsTo('editMessageReplyMarkup')).toHaveLength(1);
  });

  it('is added when an edit makes a post long enough', async () => {
    await addBot();
    const message = await post(SHORT_POST);
    await h.bot.handleUpdate(h.api.editedChannelPost(channel.id, message.message_id, LONG_POST));
    expect(h.api.callsTo('editMessageReplyMarkup')).toHaveLength(1);
  });

  it('tells the admin once when the bot may not edit posts', async () => {
    await addBot();
    h.api.setBotMember(channel.id, h.api.botAdministrator({ can_edit_messages: false }));
    h.api.clearCalls();
    await post(LONG_POST);
    await post(LONG_POST);
    const warnings = h.api.callsTo('sendMessage');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ chat_id: admin.id });
    expect(parseTelegramHtml(String(warnings[0]?.text))).toContain(
      'I need the admin right “Edit messages of others”',
    );
    expect((await h.store.getChannel(channel.id))?.canEditMessages).toBe(false);
  });
});

describe('tapping ✨ Summary', () => {
  it('answers with an alert when the summary is short', async () => {
    await addBot();
    const message = await post(LONG_POST);
    await h.bot.handleUpdate(h.api.callbackQuery(reader, message, 'summary'));
    const [answer] = h.api.callsTo('answerCallbackQuery');
    expect(answer).toMatchObject({ show_alert: true });
    expect(String(answer?.text).length).toBeLessThanOrEqual(200);
    expect(String(answer?.text)).toContain('Starting Monday, the ferry');
  });

  it('answers with a deep link to the full summary when it is long, and the bot chat shows it', async () => {
    await addBot();
    const settings = await h.store.getChannel(channel.id);
    if (settings === undefined) throw new Error('no settings');
    await h.store.saveChannel({ ...settings, length: 'detailed' });
    const message = await post(LONG_POST);
    await h.bot.handleUpdate(h.api.callbackQuery(reader, message, 'summary'));
    const [answer] = h.api.callsTo('answerCallbackQuery');
    const url = String(answer?.url);
    expect(url).toMatch(new RegExp(`^https://t\\.me/${h.api.botInfo.username}\\?start=s_[A-Za-z0-9_-]{22}$`));
    await h.bot.handleUpdate(h.api.command(reader, 'start', new URL(url).searchParams.get('start') ?? ''));
    const shown = parseTelegramHtml(String(h.api.callsTo('sendMessage').at(-1)?.text));
    expect(shown.length).toBeGreaterThan(200);
    expect(shown.startsWith('Starting Monday, the ferry')).toBe(true);
  });

  it('makes one summary for many readers tapping at once', async () => {
    await h.close();
    h = await startHarness({ summarizerDelayMs: 50, settings: { tapWaitMs: 1_000 } });
    channel = h.api.channel(channel.id, channel.title) as Chat.ChannelChat;
    await addBot();
    const message = await post(LONG_POST);
    const readers = [901, 902, 903, 904].map((id) => ({ ...reader, id }));
    await Promise.all(readers.map((r) => h.bot.handleUpdate(h.api.callbackQuery(r, message, 'summary'))));
    expect(h.summarizer.requests).toHaveLength(1);
    const answers = h.api.callsTo('answerCallbackQuery');
    expect(answers).toHaveLength(4);
    expect(new Set(answers.map((answer) => answer.text)).size).toBe(1);
  });

  it('summarizes an edited post afresh', async () => {
    await addBot();
    const message = await post(LONG_POST);
    await h.bot.handleUpdate(h.api.callbackQuery(reader, message, 'summary'));
    await h.bot.handleUpdate(
      h.api.editedChannelPost(channel.id, message.message_id, `Correction: ${LONG_POST}`),
    );
    const edited = h.api.message(channel.id, message.message_id) as Message;
    await h.bot.handleUpdate(h.api.callbackQuery(reader, edited, 'summary'));
    expect(h.summarizer.requests.map((request) => request.text.slice(0, 11))).toEqual([
      'Starting Mo',
      'Correction:',
    ]);
    expect(String(h.api.callsTo('answerCallbackQuery')[1]?.text).startsWith('Correction:')).toBe(true);
  });

  it('answers a deep link when the summary is not ready in time, then shows it in the bot chat', async () => {
    await h.close();
    h = await startHarness({ summarizerDelayMs: 150, settings: { tapWaitMs: 20 } });
    channel = h.api.channel(channel.id, channel.title) as Chat.ChannelChat;
    await addBot();
    const message = await post(LONG_POST);
    await h.bot.handleUpdate(h.api.callbackQuery(reader, message, 'summary'));
    const url = new URL(String(h.api.callsTo('answerCallbackQuery')[0]?.url));
    await h.bot.handleUpdate(h.api.command(reader, 'start', url.searchParams.get('start') ?? ''));
    expect(parseTelegramHtml(String(h.api.callsTo('sendMessage').at(-1)?.text))).toContain('Starting Monday');
  });

  it('says so in an alert when the summary fails, and logs no post text', async () => {
    await addBot();
    const message = await post(LONG_POST);
    h.summarizer.failNext();
    await h.bot.handleUpdate(h.api.callbackQuery(reader, message, 'summary'));
    expect(h.api.callsTo('answerCallbackQuery')[0]).toMatchObject({
      text: 'Could not summarize this post right now. Please try again in a minute.',
      show_alert: true,
    });
    expect(h.logs.join('\n')).not.toMatch(/ferry|Starting Monday/);
  });
});

describe('channel settings', () => {
  it('lets an admin open the panel from the link and change settings', async () => {
    await addBot();
    await h.bot.handleUpdate(h.api.command(admin, 'start', `ch_${channel.id}`));
    const panel = h.api.sentMessages(admin.id).at(-1) as Message;
    expect(panel.text).toContain('Harbour <News>: summary settings');
    expect(panel.text).toContain('Summaries: on');
    const buttons = panel.reply_markup?.inline_keyboard
      .flat()
      .map((button) => 'callback_data' in button && button.callback_data);
    expect(buttons).toEqual([
      `cs:${channel.id}:enabled`,
      `cs:${channel.id}:length`,
      `cs:${channel.id}:language`,
      `cs:${channel.id}:min`,
      `cs:${channel.id}:payer`,
    ]);
    await h.bot.handleUpdate(h.api.callbackQuery(admin, panel, `cs:${channel.id}:enabled`));
    await h.bot.handleUpdate(h.api.callbackQuery(admin, panel, `cs:${channel.id}:length`));
    await h.bot.handleUpdate(h.api.callbackQuery(admin, panel, `cs:${channel.id}:language`));
    await h.bot.handleUpdate(h.api.callbackQuery(admin, panel, `cs:${channel.id}:min`));
    await h.bot.handleUpdate(h.api.callbackQuery(admin, panel, `cs:${channel.id}:payer`));
    expect(await h.store.getChannel(channel.id)).toMatchObject({
      enabled: false,
      length: 'bullets',
      language: 'en',
      minPostLength: 1000,
      payer: 'sponsor',
    });
    const shown = h.api.message(admin.id, panel.message_id)?.text ?? '';
    expect(shown).toContain('Summaries: off');
    expect(shown).toContain('Posts from 1,000 characters');
    expect(shown).toContain('Paid by: the channel’s sponsor budget');
    expect(h.api.callsTo('answerCallbackQuery')).toHaveLength(5);
  });

  it('refuses readers who are not admins of the channel', async () => {
    await addBot();
    await h.bot.handleUpdate(h.api.command(reader, 'start', `ch_${channel.id}`));
    expect(h.api.sentMessages(reader.id).map((message) => message.text)).toEqual([
      'Only admins of this channel can change its summary settings.',
    ]);
    const panel = h.api.sentMessages(reader.id)[0] as Message;
    await h.bot.handleUpdate(h.api.callbackQuery(reader, panel, `cs:${channel.id}:enabled`));
    expect(h.api.callsTo('answerCallbackQuery')[0]).toMatchObject({ show_alert: true });
    expect((await h.store.getChannel(channel.id))?.enabled).toBe(true);
  });

  it('does not know channels it is not in', async () => {
    await h.bot.handleUpdate(h.api.command(admin, 'start', `ch_${channel.id}`));
    expect(h.api.sentMessages(admin.id).map((message) => message.text)).toEqual([
      'I am not in this channel (any more). Add me as an admin first.',
    ]);
  });
});
