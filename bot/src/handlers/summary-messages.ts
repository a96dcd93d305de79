import type { Context } from 'grammy';
import type { Message } from 'grammy/types';
import { renderMessages, sourceFooter } from '../format.js';
import type { StoredSummary } from '../store/types.js';

/** A summary as HTML messages: the summary on top, then, for an article, its title and source link. */
export function summaryMessages(summary: StoredSummary): string[] {
  if (summary.url === undefined) return renderMessages(summary.summary);
  const footer = sourceFooter({
    url: summary.url,
    title: summary.title ?? new URL(summary.url).hostname,
    ...(summary.siteName === undefined ? {} : { siteName: summary.siteName }),
  });
  return renderMessages(summary.summary, footer);
}

const linkPreview = (summary: StoredSummary) =>
  summary.url === undefined ? { is_disabled: true } : { url: summary.url, prefer_large_media: true };

/** Sends a summary into the current chat, turning the progress message (when there is one) into its first part. */
export async function deliverSummary(
  ctx: Context,
  summary: StoredSummary,
  progress?: Message,
): Promise<void> {
  const [first, ...rest] = summaryMessages(summary);
  const options = { parse_mode: 'HTML' as const, link_preview_options: linkPreview(summary) };
  if (first !== undefined) {
    if (progress === undefined) await ctx.reply(first, options);
    else await ctx.api.editMessageText(progress.chat.id, progress.message_id, first, options);
  }
  for (const part of rest) await ctx.reply(part, options);
}
