import { Composer, type Context } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import type { UserSettings } from '../store/types.js';
import { SummaryLanguage, SummaryLength } from '../summarize/types.js';
import { texts } from '../texts.js';
import { type BotServices, userSettings } from './services.js';

/** /balance, /settings (with its buttons), /history and /privacy, in private chats. */

const LANGUAGES = ['auto', 'en', 'ru'] as const;
const HISTORY_SIZE = 10;

function settingsKeyboard(settings: UserSettings): InlineKeyboardMarkup {
  return {
    inline_keyboard: [
      LANGUAGES.map((language) => ({
        text: texts.languageButton(language, settings.language === language),
        callback_data: `us:language:${language}`,
      })),
      SummaryLength.options.map((length) => ({
        text: texts.lengthButton(length, settings.length === length),
        callback_data: `us:length:${length}`,
      })),
    ],
  };
}

export function account(services: BotServices): Composer<Context> {
  const composer = new Composer<Context>();
  const privateChat = composer.chatType('private');

  privateChat.command('balance', async (ctx) => {
    const [balance, freeLeft] = await Promise.all([
      services.store.balance(ctx.from.id),
      services.billing.freeLeft(ctx.from.id),
    ]);
    await ctx.reply(texts.balance(balance, freeLeft, services.settings.freeDailySummaries), {
      parse_mode: 'HTML',
    });
  });

  privateChat.command('settings', async (ctx) => {
    const settings = await userSettings(services, ctx.from.id);
    await ctx.reply(texts.settings(settings.language, settings.length), {
      parse_mode: 'HTML',
      reply_markup: settingsKeyboard(settings),
    });
  });

  composer.callbackQuery(/^us:(language|length):([a-z]+)$/, async (ctx) => {
    const [, field, value] = ctx.match;
    const current = await userSettings(services, ctx.from.id);
    const updated =
      field === 'language'
        ? { ...current, language: SummaryLanguage.parse(value) }
        : { ...current, length: SummaryLength.parse(value) };
    await services.store.saveUserSettings(updated);
    await ctx.answerCallbackQuery({ text: texts.settingsSaved });
    if (updated.language === current.language && updated.length === current.length) return;
    await ctx.editMessageText(texts.settings(updated.language, updated.length), {
      parse_mode: 'HTML',
      reply_markup: settingsKeyboard(updated),
    });
  });

  privateChat.command('history', async (ctx) => {
    const jobs = await services.store.recentJobs(ctx.from.id, HISTORY_SIZE);
    await ctx.reply(jobs.length === 0 ? texts.noHistory : texts.history(jobs), { parse_mode: 'HTML' });
  });

  privateChat.command('privacy', async (ctx) => {
    const [last] = await services.store.recentJobs(ctx.from.id, 1);
    await ctx.reply(texts.privacy(last), { parse_mode: 'HTML' });
  });

  return composer;
}
