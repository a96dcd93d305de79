import { Composer } from 'grammy';
import type { Message } from 'grammy/types';
import type { BotContext } from '../i18n.js';
import { formatTon, starsFor } from '../payments/pricing.js';
import type { SummaryJob } from '../summarize/service.js';
import { firstLink, linkFailureText, summarizeLink } from './links.js';
import { sendJobInvoice } from './payments.js';
import { type BotServices, describeError, userSettings } from './services.js';
import { summaryFailureText } from './summary-failures.js';
import { deliverSummary } from './summary-messages.js';

/** Text around a link shorter than this makes the message "a link" rather than a text to summarize. */
const LINK_MESSAGE_SLACK = 40;

/**
 * Private chat: a link → its article summarized; a forwarded post or a pasted text → its summary. A long
 * text first shows its price and waits for the user to confirm it (or pay for it in Stars).
 */
export function privateChat(services: BotServices): Composer<BotContext> {
  const composer = new Composer<BotContext>();

  composer.chatType('private').on(['message:text', 'message:caption'], async (ctx) => {
    const message = ctx.message;
    const text = message.text ?? message.caption ?? '';
    if (message.text?.startsWith('/')) return void (await ctx.reply(ctx.t('nothing-to-summarize')));
    const link = firstLink(text);
    const forwarded = message.forward_origin !== undefined;
    if (link !== undefined && !forwarded && text.length - link.length < LINK_MESSAGE_SLACK) {
      return summarizeLinkInChat(ctx, services, link, await userSettings(services, ctx.from.id));
    }
    // Checked before the user's settings are read: a short text needs no database at all.
    if (text.trim().length < services.settings.minTextLength) {
      return void (await ctx.reply(ctx.t('too-short', { min: services.settings.minTextLength })));
    }
    const job = textJob(message, text, await userSettings(services, ctx.from.id), ctx.from.id);
    const stored = await services.summaries.cached(job);
    if (stored !== undefined) return deliverSummary(ctx, stored);
    if (text.length >= services.settings.confirmAboveChars) return askToConfirm(ctx, services, job);
    await ctx.replyWithChatAction('typing');
    return summarizeInto(ctx, services, job, await ctx.reply(ctx.t('summarizing')));
  });

  composer.callbackQuery(/^job:(go|pay):([0-9a-f]{32})$/, async (ctx) => {
    const [, action, id] = ctx.match as [string, 'go' | 'pay', string];
    const pending =
      action === 'go'
        ? services.pendingJobs.take(id, ctx.from.id)
        : services.pendingJobs.get(id, ctx.from.id);
    const progress = ctx.callbackQuery.message;
    if (pending === undefined || progress === undefined || progress.date === 0) {
      return void (await ctx.answerCallbackQuery({ text: ctx.t('job-expired'), show_alert: true }));
    }
    await ctx.answerCallbackQuery();
    if (action === 'pay') return sendJobInvoice(ctx, pending);
    await ctx.api.editMessageText(progress.chat.id, progress.message_id, ctx.t('summarizing'));
    await summarizeInto(ctx, services, pending.job, progress as Message);
  });

  return composer;
}

function textJob(
  message: Message,
  text: string,
  { language, length }: { language: SummaryJob['language']; length: SummaryJob['length'] },
  userId: number,
): SummaryJob {
  const origin = message.forward_origin;
  // A post forwarded from a channel is the same post for everyone: its summary is shared.
  const source =
    origin?.type === 'channel'
      ? { kind: 'channel-post' as const, chatId: origin.chat.id, messageId: origin.message_id }
      : { kind: 'text' as const };
  return { source, text, language, length, payer: { userId } };
}

/** Shows the price of a long text's summary, with a button to go ahead, or to pay in Stars when credit is short. */
async function askToConfirm(ctx: BotContext, services: BotServices, job: SummaryJob): Promise<void> {
  const userId = job.payer.userId;
  let estimate: bigint;
  try {
    estimate = await services.summaries.estimate(job.text.length, job.length);
  } catch (error) {
    services.logger.warn({ error: describeError(error) }, 'no price for a long text');
    return void (await ctx.reply(ctx.t('summary-failed')));
  }
  const [freeLeft, balance] = await Promise.all([
    services.billing.freeLeft(userId),
    services.store.balance(userId),
  ]);
  const pending = services.pendingJobs.add(
    userId,
    job,
    estimate,
    starsFor(estimate, services.settings.nanotonsPerStar),
  );
  const covered = freeLeft > 0 || balance >= estimate;
  const button = covered
    ? { text: ctx.t('confirm-button'), callback_data: `job:go:${pending.id}` }
    : { text: ctx.t('pay-job-button', { stars: pending.stars }), callback_data: `job:pay:${pending.id}` };
  const text = ctx.t('confirm-job', {
    chars: job.text.length,
    estimate: formatTon(estimate),
    freeLeft,
    balance: formatTon(balance),
  });
  await ctx.reply(text, {
    parse_mode: 'HTML',
    reply_markup: { inline_keyboard: [[button]] },
  });
}

/** Makes the summary and turns the progress message into it, or into the reason it was not made. */
async function summarizeInto(ctx: BotContext, services: BotServices, job: SummaryJob, progress: Message) {
  try {
    await deliverSummary(ctx, await services.summaries.summarize(job), progress);
  } catch (error) {
    services.logger.warn({ error: describeError(error) }, 'text not summarized');
    await ctx.api.editMessageText(
      progress.chat.id,
      progress.message_id,
      summaryFailureText(ctx.t, error, services),
    );
  }
}

async function summarizeLinkInChat(
  ctx: BotContext & { from: { id: number } },
  services: BotServices,
  link: string,
  settings: Pick<SummaryJob, 'language' | 'length'>,
): Promise<void> {
  await ctx.replyWithChatAction('typing');
  const progress = await ctx.reply(ctx.t('reading'));
  try {
    await deliverSummary(
      ctx,
      await summarizeLink(services, link, settings, { userId: ctx.from.id }),
      progress,
    );
  } catch (error) {
    services.logger.info({ error: describeError(error) }, 'link not summarized');
    await ctx.api.editMessageText(
      progress.chat.id,
      progress.message_id,
      linkFailureText(ctx.t, error, services),
    );
  }
}
