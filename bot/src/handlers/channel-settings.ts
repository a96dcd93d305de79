import { Composer, type Context } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import type { ChannelSettings } from '../store/types.js';
import { SummaryLength } from '../summarize/types.js';
import { texts } from '../texts.js';
import { type BotServices, isChatAdmin } from './services.js';

/** The settings panel an admin opens from the link the bot sends when it is added to a channel. */

const LANGUAGES = ['auto', 'en', 'ru'];
const MIN_POST_LENGTHS = [200, 500, 1000, 2000];
const FIELDS = ['enabled', 'length', 'language', 'min', 'payer'] as const;
type Field = (typeof FIELDS)[number];

const next = <T>(values: readonly T[], current: T): T =>
  values[(values.indexOf(current) + 1) % values.length] ?? (values[0] as T);

function changed(settings: ChannelSettings, field: Field): ChannelSettings {
  switch (field) {
    case 'enabled':
      return { ...settings, enabled: !settings.enabled };
    case 'length':
      return { ...settings, length: next(SummaryLength.options, settings.length) };
    case 'language':
      return { ...settings, language: next(LANGUAGES, settings.language) };
    case 'min':
      return { ...settings, minPostLength: next(MIN_POST_LENGTHS, settings.minPostLength) };
    case 'payer':
      return { ...settings, payer: settings.payer === 'reader' ? 'sponsor' : 'reader' };
  }
}

function keyboard(settings: ChannelSettings): InlineKeyboardMarkup {
  const button = (text: string, field: Field) => [{ text, callback_data: `cs:${settings.chatId}:${field}` }];
  return {
    inline_keyboard: [
      button(texts.settingsButtons.enabled(settings.enabled), 'enabled'),
      button(texts.settingsButtons.length(settings.length), 'length'),
      button(texts.settingsButtons.language(settings.language), 'language'),
      button(texts.settingsButtons.minPostLength(settings.minPostLength), 'min'),
      button(texts.settingsButtons.payer(settings.payer), 'payer'),
    ],
  };
}

/** Loads a channel's settings for a user who may change them, or says why not. */
async function settingsFor(
  ctx: Context,
  services: BotServices,
  chatId: number,
  userId: number,
): Promise<ChannelSettings | string> {
  const settings = await services.store.getChannel(chatId);
  if (settings === undefined || !settings.active) return texts.unknownChannel;
  if (!(await isChatAdmin(ctx, chatId, userId))) return texts.notChannelAdmin;
  return settings;
}

export async function showChannelSettings(
  ctx: Context,
  services: BotServices,
  chatId: number,
): Promise<void> {
  if (ctx.from === undefined) return;
  const settings = await settingsFor(ctx, services, chatId, ctx.from.id);
  if (typeof settings === 'string') return void (await ctx.reply(settings));
  await ctx.reply(texts.channelSettings(settings), { parse_mode: 'HTML', reply_markup: keyboard(settings) });
}

export function channelSettings(services: BotServices): Composer<Context> {
  const composer = new Composer<Context>();
  composer.callbackQuery(/^cs:(-\d+):(enabled|length|language|min|payer)$/, async (ctx) => {
    const [, chatId, field] = ctx.match;
    const settings = await settingsFor(ctx, services, Number(chatId), ctx.from.id);
    if (typeof settings === 'string') {
      return void (await ctx.answerCallbackQuery({ text: settings, show_alert: true }));
    }
    const updated = changed(settings, field as Field);
    await services.store.saveChannel(updated);
    await ctx.answerCallbackQuery({ text: texts.settingsSaved });
    await ctx.editMessageText(texts.channelSettings(updated), {
      parse_mode: 'HTML',
      reply_markup: keyboard(updated),
    });
  });
  return composer;
}
