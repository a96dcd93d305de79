import { fileURLToPath } from 'node:url';
import { I18n, type I18nFlavor, type TranslationVariables } from '@grammyjs/i18n';
import { Composer, type Context } from 'grammy';
import type { User } from 'grammy/types';
import { z } from 'zod';
import { escapeHtml } from './format.js';
import type { BotStore, UserLocale } from './store/types.js';

/** The languages the bot speaks: a user's Telegram language starting with `ru` gets Russian, anyone else English. */
export const Locale = z.enum(['en', 'ru']);
export type Locale = z.output<typeof Locale>;
export const DEFAULT_LOCALE: Locale = 'en';

/** bot/locales, found from this file (sources run as they are, with no build step that could move them). */
export const LOCALES_DIR = fileURLToPath(new URL('../locales', import.meta.url));

export type BotContext = Context & I18nFlavor;
export type Translate = (key: string, variables?: TranslationVariables) => string;

// Isolation marks around values would end up inside links' href attributes and in button labels.
const I18N_CONFIG = {
  defaultLocale: DEFAULT_LOCALE,
  directory: LOCALES_DIR,
  fluentBundleOptions: { useIsolating: false },
};

const messages = new I18n<BotContext>(I18N_CONFIG);

export function localeOf(languageCode: string | undefined): Locale {
  return languageCode?.toLowerCase().startsWith('ru') ? 'ru' : DEFAULT_LOCALE;
}

/**
 * Every text is Telegram HTML, and values may come from users (names, channel titles): each string value
 * is escaped on its way in. Plain-text messages only take values the bot made, which escaping leaves as they are.
 */
function escaped(variables: TranslationVariables | undefined): TranslationVariables | undefined {
  if (variables === undefined) return undefined;
  return Object.fromEntries(
    Object.entries(variables).map(([name, value]) => [
      name,
      typeof value === 'string' ? escapeHtml(value) : value,
    ]),
  );
}

/** A text in a given locale, for messages sent outside the recipient's own update (notifications). */
export function translator(locale: Locale): Translate {
  return (key, variables) => messages.t(locale, key, escaped(variables));
}

/** How many users' locales are kept in memory: a few hundred bytes each. */
const CACHED_USERS = 10_000;

/**
 * Users' interface languages. What a user's Telegram app reports is remembered (when it changes), so messages
 * sent to them later, outside their own updates, are in their language too; a choice made in /settings wins.
 * Every update needs its user's locale, and only the bot writes them, so the most recent users' locales are
 * kept in memory (a database read per update was half the time the bot spent on an update).
 */
export class UserLocales {
  /** Most recently used last; null for a user the store does not know. */
  private readonly cache = new Map<number, UserLocale | null>();

  constructor(private readonly store: BotStore) {}

  /** The locale for messages to this user outside their updates: their choice or last seen language, else English. */
  async of(userId: number | undefined): Promise<Locale> {
    if (userId === undefined) return DEFAULT_LOCALE;
    return (await this.stored(userId))?.locale ?? DEFAULT_LOCALE;
  }

  /** Texts for this user, outside their updates. */
  async translatorOf(userId: number | undefined): Promise<Translate> {
    return translator(await this.of(userId));
  }

  /** The locale of an update from this user. */
  async negotiate(user: Pick<User, 'id' | 'language_code'>): Promise<Locale> {
    const stored = await this.stored(user.id);
    if (stored?.chosen) return stored.locale;
    const seen = localeOf(user.language_code);
    // Only a change is written: a user the store does not know is spoken to in English already.
    if ((stored?.locale ?? DEFAULT_LOCALE) !== seen) {
      await this.save({ userId: user.id, locale: seen, chosen: false });
    }
    return seen;
  }

  choose(userId: number, locale: Locale): Promise<void> {
    return this.save({ userId, locale, chosen: true });
  }

  private async stored(userId: number): Promise<UserLocale | undefined> {
    let locale = this.cache.get(userId);
    if (locale === undefined) locale = (await this.store.getUserLocale(userId)) ?? null;
    this.remember(userId, locale);
    return locale ?? undefined;
  }

  private async save(locale: UserLocale): Promise<void> {
    await this.store.saveUserLocale(locale);
    this.remember(locale.userId, locale);
  }

  private remember(userId: number, locale: UserLocale | null): void {
    this.cache.delete(userId);
    this.cache.set(userId, locale);
    const oldest = this.cache.keys().next().value;
    if (this.cache.size > CACHED_USERS && oldest !== undefined) this.cache.delete(oldest);
  }
}

/** `ctx.t` in the locale of the update's user (English for updates from no user, such as channel posts). */
export function localize(locales: UserLocales): Composer<BotContext> {
  const i18n = new I18n<BotContext>({
    ...I18N_CONFIG,
    localeNegotiator: (ctx) => (ctx.from === undefined ? DEFAULT_LOCALE : locales.negotiate(ctx.from)),
  });
  const composer = new Composer<BotContext>();
  composer.use(i18n);
  composer.use((ctx, next) => {
    const translate = ctx.t;
    ctx.t = (key, variables) => translate(key, escaped(variables));
    ctx.translate = ctx.t;
    return next();
  });
  return composer;
}
