import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '@cocoon/shared';
import type { Logger } from '@cocoon/shared/log';
import { type Context, GrammyError } from 'grammy';
import { z } from 'zod';
import type { UserLocales } from '../i18n.js';
import type { ReadArticle } from '../links/read-article.js';
import type { TelegramMetrics } from '../metrics.js';
import type { Billing } from '../payments/billing.js';
import type { PendingJobs } from '../payments/pending-jobs.js';
import type { BotStore, UserSettings } from '../store/types.js';
import type { SummaryService } from '../summarize/service.js';
import { SummaryLanguage, SummaryLength } from '../summarize/types.js';

export const BotSettings = z.object({
  /** Pasted texts and forwarded posts shorter than this are not summarized. */
  minTextLength: z.number().int().min(1),
  /** How long a tap on ✨ Summary waits for the summary before answering with a deep link. */
  tapWaitMs: z.number().int().min(0).max(14_000),
  /** How long an inline query waits for a link summary before asking to try again. */
  inlineWaitMs: z.number().int().min(0).max(14_000),
  /** Default summary settings for private chats and inline mode; each user may change theirs in /settings. */
  privateLanguage: SummaryLanguage,
  privateLength: SummaryLength,
  /** Free summaries per user per UTC day, set by the operator. */
  freeDailySummaries: z.number().int().min(0),
  /** Nanotons of credit one Telegram Star buys. */
  nanotonsPerStar: z.bigint().positive(),
  /** The Stars packages /topup offers. */
  starsPackages: z.array(z.number().int().min(1).max(100_000)).min(1).max(6),
  /** Texts at least this long show their price and wait for a confirmation. */
  confirmAboveChars: z.number().int().min(1),
  /** How long a text waiting for confirmation is held in memory (ms). */
  confirmWaitMs: z.number().int().min(1_000),
  /** How long finished summaries are kept for deep links and repeated requests (ms). */
  summaryTtlMs: z.number().int().min(60_000),
  /** The Mini App's https URL, for the web_app button of /topup. */
  miniAppUrl: z.url({ protocol: /^https$/ }).optional(),
});
export type BotSettings = z.output<typeof BotSettings>;

/** What the handlers share: built once in createBot. */
export interface BotServices {
  store: BotStore;
  summaries: SummaryService;
  billing: Billing;
  pendingJobs: PendingJobs;
  readArticle: ReadArticle;
  locales: UserLocales;
  clock: Clock;
  logger: Logger;
  metrics: TelegramMetrics;
  settings: BotSettings;
}

/** The user's own summary settings, or the bot's defaults. */
export async function userSettings(services: BotServices, userId: number): Promise<UserSettings> {
  return (
    (await services.store.getUserSettings(userId)) ?? {
      userId,
      language: services.settings.privateLanguage,
      length: services.settings.privateLength,
    }
  );
}

/** Error details fit for the log: names, codes and API descriptions, never payloads or texts. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof GrammyError) {
    return {
      name: error.name,
      method: error.method,
      errorCode: error.error_code,
      description: error.description,
    };
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code === undefined ? { name: error.name } : { name: error.name, code };
  }
  return { name: typeof error };
}

/** Resolves with the promise's value, or undefined when it takes longer than `ms` (the promise goes on). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  const stopTimer = new AbortController();
  const timeout = sleep(ms, undefined, { signal: stopTimer.signal }).then(
    () => undefined,
    () => undefined,
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    stopTimer.abort();
  }
}

export const isAdminStatus = (status: string) => status === 'creator' || status === 'administrator';

export async function isChatAdmin(ctx: Context, chatId: number, userId: number): Promise<boolean> {
  try {
    return isAdminStatus((await ctx.api.getChatMember(chatId, userId)).status);
  } catch {
    return false;
  }
}
