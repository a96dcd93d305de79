import { Composer } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import { type BotContext, Locale, type Translate, translator } from '../i18n.js';
import { formatTon } from '../payments/pricing.js';
import type { JobRecord, UserSettings } from '../store/types.js';
import { SummaryLanguage, SummaryLength } from '../summarize/types.js';
import { type BotServices, userSettings } from './services.js';

/** /balance, /settings (with its buttons), /history and /privacy, in private chats. */

const LANGUAGES = ['auto', 'en', 'ru'] as const;
const HISTORY_SIZE = 10;

const checked = (label: string, selected: boolean) => `${selected ? '✓ ' : ''}${label}`;

/** The summary settings, then the bot's own language, each value a button. */
function settingsKeyboard(t: Translate, settings: UserSettings, locale: Locale): InlineKeyboardMarkup {
  return {
    inline_keyboard: [
      LANGUAGES.map((language) => ({
        text: checked(t('language-button', { language }), settings.language === language),
        callback_data: `us:language:${language}`,
      })),
      SummaryLength.options.map((length) => ({
        text: checked(t('length-name', { length }), settings.length === length),
        callback_data: `us:length:${length}`,
      })),
      // Each language named in itself, so a user who cannot read the current one still finds theirs.
      Locale.options.map((option) => ({
        text: checked(translator(option)('locale-name'), option === locale),
        callback_data: `us:locale:${option}`,
      })),
    ],
  };
}

async function showSettings(ctx: BotContext, settings: UserSettings, edit: boolean): Promise<void> {
  const text = ctx.t('settings', { language: settings.language, length: settings.length });
  const options = {
    parse_mode: 'HTML' as const,
    reply_markup: settingsKeyboard(ctx.t, settings, Locale.parse(await ctx.i18n.getLocale())),
  };
  await (edit ? ctx.editMessageText(text, options) : ctx.reply(text, options));
}

function history(t: Translate, jobs: JobRecord[]): string {
  const entries = jobs.map((job) => {
    const entry = t('history-entry', {
      at: new Date(job.at).toISOString().slice(0, 16).replace('T', ' '),
      source: job.sourceKind,
      prompt: job.promptTokens,
      completion: job.completionTokens,
      paidBy: job.paidBy,
      cost: formatTon(job.cost),
    });
    return job.receiptId === undefined
      ? entry
      : `${entry}\n${t('history-receipt', { receipt: job.receiptId })}`;
  });
  return [t('history'), ...entries].join('\n\n');
}

function privacy(t: Translate, last: JobRecord | undefined): string {
  const lastJob =
    last === undefined
      ? t('no-history')
      : t('privacy-last', {
          attestation: last.attestationKind ?? 'unknown',
          receipt: last.receiptId ?? 'none',
        });
  return `${t('privacy')}\n\n${lastJob}`;
}

export function account(services: BotServices): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const privateChat = composer.chatType('private');

  privateChat.command('balance', async (ctx) => {
    const [balance, freeLeft] = await Promise.all([
      services.store.balance(ctx.from.id),
      services.billing.freeLeft(ctx.from.id),
    ]);
    const text = ctx.t('balance', {
      balance: formatTon(balance),
      freeLeft,
      freeDaily: services.settings.freeDailySummaries,
    });
    await ctx.reply(text, { parse_mode: 'HTML' });
  });

  privateChat.command('settings', async (ctx) =>
    showSettings(ctx, await userSettings(services, ctx.from.id), false),
  );

  composer.callbackQuery(/^us:(language|length|locale):([a-z]+)$/, async (ctx) => {
    const [, field, value] = ctx.match;
    const current = await userSettings(services, ctx.from.id);
    if (field === 'locale') {
      const locale = Locale.parse(value);
      const unchanged = locale === (await ctx.i18n.getLocale());
      await services.locales.choose(ctx.from.id, locale);
      ctx.i18n.useLocale(locale);
      await ctx.answerCallbackQuery({ text: ctx.t('settings-saved') });
      return unchanged ? undefined : showSettings(ctx, current, true);
    }
    const updated =
      field === 'language'
        ? { ...current, language: SummaryLanguage.parse(value) }
        : { ...current, length: SummaryLength.parse(value) };
    await services.store.saveUserSettings(updated);
    await ctx.answerCallbackQuery({ text: ctx.t('settings-saved') });
    if (updated.language === current.language && updated.length === current.length) return;
    await showSettings(ctx, updated, true);
  });

  privateChat.command('history', async (ctx) => {
    const jobs = await services.store.recentJobs(ctx.from.id, HISTORY_SIZE);
    await ctx.reply(jobs.length === 0 ? ctx.t('no-history') : history(ctx.t, jobs), { parse_mode: 'HTML' });
  });

  privateChat.command('privacy', async (ctx) => {
    const [last] = await services.store.recentJobs(ctx.from.id, 1);
    await ctx.reply(privacy(ctx.t, last), { parse_mode: 'HTML' });
  });

  return composer;
}
