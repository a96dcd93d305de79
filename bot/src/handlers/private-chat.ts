import { Composer, type Context } from 'grammy';
import type { Message } from 'grammy/types';
import { texts } from '../texts.js';
import { firstLink, linkFailureText, summarizeLink } from './links.js';
import { type BotServices, describeError } from './services.js';
import { deliverSummary } from './summary-messages.js';

/** Text around a link shorter than this makes the message "a link" rather than a text to summarize. */
const LINK_MESSAGE_SLACK = 40;

/** Private chat: a link → its article summarized; a forwarded post or a pasted text → its summary. */
export function privateChat(services: BotServices): Composer<Context> {
  const composer = new Composer<Context>();

  composer.chatType('private').on(['message:text', 'message:caption'], async (ctx) => {
    const message = ctx.message;
    const text = message.text ?? message.caption ?? '';
    if (message.text?.startsWith('/')) return void (await ctx.reply(texts.nothingToSummarize));
    const link = firstLink(text);
    const forwarded = message.forward_origin !== undefined;
    if (link !== undefined && !forwarded && text.length - link.length < LINK_MESSAGE_SLACK) {
      return summarizeLinkInChat(ctx, services, link);
    }
    if (text.trim().length < services.settings.minTextLength) {
      return void (await ctx.reply(texts.tooShort(services.settings.minTextLength)));
    }
    return summarizeTextInChat(ctx, services, message, text);
  });

  return composer;
}

async function summarizeLinkInChat(ctx: Context, services: BotServices, link: string): Promise<void> {
  await ctx.replyWithChatAction('typing');
  const progress = await ctx.reply(texts.reading);
  try {
    await deliverSummary(ctx, await summarizeLink(services, link), progress);
  } catch (error) {
    services.logger.info({ error: describeError(error) }, 'link not summarized');
    await ctx.api.editMessageText(progress.chat.id, progress.message_id, linkFailureText(error));
  }
}

async function summarizeTextInChat(ctx: Context, services: BotServices, message: Message, text: string) {
  await ctx.replyWithChatAction('typing');
  const progress = await ctx.reply(texts.summarizing);
  const origin = message.forward_origin;
  // A post forwarded from a channel is the same post for everyone: its summary is shared.
  const source =
    origin?.type === 'channel'
      ? { kind: 'channel-post' as const, chatId: origin.chat.id, messageId: origin.message_id }
      : { kind: 'text' as const };
  try {
    const summary = await services.summaries.summarize({
      source,
      text,
      language: services.settings.privateLanguage,
      length: services.settings.privateLength,
    });
    await deliverSummary(ctx, summary, progress);
  } catch (error) {
    services.logger.warn({ error: describeError(error) }, 'text not summarized');
    await ctx.api.editMessageText(progress.chat.id, progress.message_id, texts.summaryFailed);
  }
}
