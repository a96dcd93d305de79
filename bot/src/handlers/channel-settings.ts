import { Composer } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import type { BotContext, Translate } from '../i18n.js';
import type { ChannelSettings } from '../store/types.js';
import { SummaryLength } from '../summarize/types.js';
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

/** The values the panel and its buttons show. */
const shown = (settings: ChannelSettings) => ({
  channel: settings.title,
  enabled: settings.enabled ? 'yes' : 'no',
  length: settings.length,
  language: settings.language,
  min: settings.minPostLength,
  payer: settings.payer,
});

function keyboard(t: Translate, settings: ChannelSettings): InlineKeyboardMarkup {
  const values = shown(settings);
  const button = (field: Field, key: string) => [
    { text: t(key, values), callback_data: `cs:${settings.chatId}:${field}` },
  ];
  return {
    inline_keyboard: [
      button('enabled', 'channel-button-enabled'),
      button('length', 'channel-button-length'),
      button('language', 'channel-button-language'),
      button('min', 'channel-button-min'),
      button('payer', 'channel-button-payer'),
    ],
  };
}

function panel(t: Translate, settings: ChannelSettings): string {
  const text = t('channel-settings', shown(settings));
  return settings.canEditMessages
    ? text
    : `${text}\n\n${t('missing-edit-right', { channel: settings.title })}`;
}

/** Loads a channel's settings for a user who may change them, or says why not. */
async function settingsFor(
  ctx: BotContext,
  services: BotServices,
  chatId: number,
  userId: number,
): Promise<ChannelSettings | string> {
  const settings = await services.store.getChannel(chatId);
  if (settings === undefined || !settings.active) return ctx.t('unknown-channel');
  if (!(await isChatAdmin(ctx, chatId, userId))) return ctx.t('not-channel-admin');
  return settings;
}

export async function showChannelSettings(
  ctx: BotContext,
  services: BotServices,
  chatId: number,
): Promise<void> {
  if (ctx.from === undefined) return;
  const settings = await settingsFor(ctx, services, chatId, ctx.from.id);
  if (typeof settings === 'string') return void (await ctx.reply(settings));
  await ctx.reply(panel(ctx.t, settings), { parse_mode: 'HTML', reply_markup: keyboard(ctx.t, settings) });
}

export function channelSettings(services: BotServices): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.callbackQuery(/^cs:(-\d+):(enabled|length|language|min|payer)$/, async (ctx) => {
    const [, chatId, field] = ctx.match;
    const settings = await settingsFor(ctx, services, Number(chatId), ctx.from.id);
    if (typeof settings === 'string') {
      return void (await ctx.answerCallbackQuery({ text: settings, show_alert: true }));
    }
    const updated = changed(settings, field as Field);
    await services.store.saveChannel(updated);
    await ctx.answerCallbackQuery({ text: ctx.t('settings-saved') });
    await ctx.editMessageText(panel(ctx.t, updated), {
      parse_mode: 'HTML',
      reply_markup: keyboard(ctx.t, updated),
    });
  });
  return composer;
}
