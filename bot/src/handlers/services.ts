import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '@cocoon/shared';
import type { Logger } from '@cocoon/shared/log';
import { type Context, GrammyError } from 'grammy';
import { z } from 'zod';
import type { ReadArticle } from '../links/read-article.js';
import type { BotStore } from '../store/types.js';
import type { SummaryService } from '../summarize/service.js';
import { SummaryLanguage, SummaryLength } from '../summarize/types.js';

export const BotSettings = z.object({
  /** Pasted texts and forwarded posts shorter than this are not summarized. */
  minTextLength: z.number().int().min(1),
  /** How long a tap on ✨ Summary waits for the summary before answering with a deep link. */
  tapWaitMs: z.number().int().min(0).max(14_000),
  /** How long an inline query waits for a link summary before asking to try again. */
  inlineWaitMs: z.number().int().min(0).max(14_000),
  /** Summary settings for private chats and inline mode (per-user /settings come later). */
  privateLanguage: SummaryLanguage,
  privateLength: SummaryLength,
});
export type BotSettings = z.output<typeof BotSettings>;

/** What the handlers share: built once in createBot. */
export interface BotServices {
  store: BotStore;
  summaries: SummaryService;
  readArticle: ReadArticle;
  clock: Clock;
  logger: Logger;
  settings: BotSettings;
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
