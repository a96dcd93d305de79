import { Bot, GrammyError } from 'grammy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseTelegramHtml, RecordingBotApi } from './support/bot-api.js';

describe('parseTelegramHtml (the recording API checks HTML like Telegram)', () => {
  it('reads escaped text in supported tags', () => {
    expect(
      parseTelegramHtml('<b>bold</b> &lt;tag&gt; &amp; <a href="https://x.test/?a=1&amp;b=2">link</a>'),
    ).toBe('bold <tag> & link');
    expect(parseTelegramHtml('&#128240; &#x41;')).toBe('📰 A');
  });

  it.each([
    ['<div>x</div>', 'Unsupported start tag "div"'],
    ['a < b', 'Unclosed start tag'],
    ['<b>open', 'Can\'t find end tag corresponding to start tag "b"'],
    ['<b><i>x</b></i>', 'Unmatched end tag "b"'],
    ['Tom & Jerry', "Character '&' is reserved"],
    ['a > b', "Character '>' is reserved"],
    ['<a>no href</a>', 'must have attribute "href"'],
  ])('refuses %s', (html, reason) => {
    expect(() => parseTelegramHtml(html)).toThrow(reason);
  });
});

describe('RecordingBotApi', () => {
  let api: RecordingBotApi;
  let bot: Bot;

  beforeEach(async () => {
    api = await RecordingBotApi.start();
    bot = new Bot(api.token, { botInfo: api.botInfo, client: api.clientOptions });
  });
  afterEach(() => api.close());

  it('records calls and answers with realistic messages', async () => {
    const sent = await bot.api.sendMessage(42, '<b>Hello</b> &amp; welcome', { parse_mode: 'HTML' });
    expect(sent).toMatchObject({
      chat: { id: 42, type: 'private' },
      from: { id: api.botInfo.id },
      text: 'Hello & welcome',
    });
    const edited = await bot.api.editMessageText(42, sent.message_id, 'Bye');
    expect(edited).toMatchObject({ message_id: sent.message_id, text: 'Bye' });
    expect(api.callsTo('sendMessage')).toEqual([
      { chat_id: 42, text: '<b>Hello</b> &amp; welcome', parse_mode: 'HTML' },
    ]);
  });

  it('answers like Telegram to what Telegram refuses', async () => {
    await expect(bot.api.sendMessage(42, 'x'.repeat(4097))).rejects.toThrow('message is too long');
    await expect(bot.api.sendMessage(42, 'a <b', { parse_mode: 'HTML' })).rejects.toThrow(
      "can't parse entities",
    );
    await expect(
      bot.api.sendMessage(42, 'x', {
        reply_markup: { inline_keyboard: [[{ text: 'b', callback_data: 'd'.repeat(65) }]] },
      }),
    ).rejects.toThrow('BUTTON_DATA_INVALID');
    await expect(bot.api.answerCallbackQuery('q', { text: 'y'.repeat(201) })).rejects.toThrow(
      'MESSAGE_TOO_LONG',
    );
    await expect(bot.api.raw.getStickerSet({ name: 'x' })).rejects.toThrow('method not found');
  });

  it('lets the bot edit channel posts only with the right to edit messages', async () => {
    const channel = api.channel(-1001, 'News');
    const post = api.channelPost(channel, 'A post').channel_post;
    if (post === undefined) throw new Error('no post');
    const markup = { inline_keyboard: [[{ text: 'Go', url: 'https://example.com' }]] };
    const refused = await bot.api
      .editMessageReplyMarkup(channel.id, post.message_id, { reply_markup: markup })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(GrammyError);
    expect((refused as GrammyError).description).toBe("Bad Request: message can't be edited");
    api.setBotMember(channel.id, api.botAdministrator({ can_edit_messages: true }));
    const edited = await bot.api.editMessageReplyMarkup(channel.id, post.message_id, {
      reply_markup: markup,
    });
    expect(edited).toMatchObject({ text: 'A post', reply_markup: markup });
    expect(api.message(channel.id, post.message_id)?.reply_markup).toEqual(markup);
  });

  it('fails a method on request', async () => {
    api.failNext('sendMessage', { error_code: 403, description: 'Forbidden: bot was blocked by the user' });
    await expect(bot.api.sendMessage(42, 'x')).rejects.toThrow('bot was blocked');
    await expect(bot.api.sendMessage(42, 'x')).resolves.toMatchObject({ text: 'x' });
  });

  it('serves long polling to a real grammY bot', async () => {
    const user = api.user(7, 'Ann');
    bot.on('message:text', (ctx) => ctx.reply(`echo: ${ctx.message.text}`));
    const polling = bot.start({ drop_pending_updates: false });
    api.deliver(api.privateText(user, 'first'));
    api.deliver(api.privateText(user, 'second'));
    await api.waitForCall('sendMessage', (params) => params.text === 'echo: second');
    await bot.stop();
    await polling;
    expect(api.callsTo('sendMessage').map((params) => params.text)).toEqual(['echo: first', 'echo: second']);
    expect(api.callsTo('getUpdates').length).toBeGreaterThanOrEqual(2);
  });
});
