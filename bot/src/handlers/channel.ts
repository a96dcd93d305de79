import { Composer, GrammyError } from 'grammy';
import type { InlineKeyboardButton, Message } from 'grammy/types';
import { ALERT_LIMIT, deepLink } from '../format.js';
import type { BotContext } from '../i18n.js';
import { PaymentRequiredError } from '../payments/billing.js';
import { type ChannelSettings, DEFAULT_CHANNEL_SETTINGS } from '../store/types.js';
import { SummaryService } from '../summarize/service.js';
import { type BotServices, describeError, within } from './services.js';

/** Channels: the ✨ Summary button under long posts, the answer to a tap, and joining or leaving a channel. */

export const SUMMARY_CALLBACK = 'summary';
/** How often an admin is told at most that the bot lacks the right to edit posts. */
const RIGHTS_WARNING_INTERVAL_MS = 24 * 60 * 60 * 1000;

const postText = (post: Message): string | undefined => post.text ?? post.caption;

const hasSummaryButton = (rows: InlineKeyboardButton[][]) =>
  rows.some((row) =>
    row.some((button) => 'callback_data' in button && button.callback_data === SUMMARY_CALLBACK),
  );

/** Telegram's answers when the bot may not edit a post. */
const isMissingEditRight = (error: unknown) =>
  error instanceof GrammyError &&
  (error.error_code === 403 ||
    /message can't be edited|not enough rights|CHAT_ADMIN_REQUIRED/i.test(error.description));

async function warnMissingEditRight(
  ctx: BotContext,
  services: BotServices,
  settings: ChannelSettings,
): Promise<void> {
  const now = services.clock.now();
  const warnedRecently =
    settings.rightsWarnedAt !== undefined && now - settings.rightsWarnedAt < RIGHTS_WARNING_INTERVAL_MS;
  await services.store.saveChannel({
    ...settings,
    canEditMessages: false,
    ...(warnedRecently || settings.addedBy === undefined ? {} : { rightsWarnedAt: now }),
  });
  if (warnedRecently || settings.addedBy === undefined) return;
  // A channel post has no user: the admin is told in the language the bot knows them by.
  const t = await services.locales.translatorOf(settings.addedBy);
  await ctx.api
    .sendMessage(settings.addedBy, t('missing-edit-right', { channel: settings.title }), {
      parse_mode: 'HTML',
    })
    .catch((error: unknown) =>
      services.logger.warn({ error: describeError(error) }, 'could not warn a channel admin'),
    );
}

async function addSummaryButton(ctx: BotContext, services: BotServices, post: Message): Promise<void> {
  const text = postText(post);
  const settings = await services.store.getChannel(post.chat.id);
  if (settings === undefined || !settings.active || !settings.enabled) return;
  if (text === undefined || text.length < settings.minPostLength) return;
  const existing = post.reply_markup?.inline_keyboard ?? [];
  // An edited post keeps its button: a tap summarizes the post as it is then.
  if (hasSummaryButton(existing)) return;
  // A post has no user to speak to: the button speaks the language of the admin who added the bot.
  const t = await services.locales.translatorOf(settings.addedBy);
  const inline_keyboard = [...existing, [{ text: t('summary-button'), callback_data: SUMMARY_CALLBACK }]];
  try {
    await ctx.api.editMessageReplyMarkup(post.chat.id, post.message_id, {
      reply_markup: { inline_keyboard },
    });
  } catch (error) {
    if (!isMissingEditRight(error)) throw error;
    await warnMissingEditRight(ctx, services, settings);
  }
}

export function channelPosts(services: BotServices): Composer<BotContext> {
  const composer = new Composer<BotContext>();

  composer.on('channel_post', (ctx) => addSummaryButton(ctx, services, ctx.channelPost));
  composer.on('edited_channel_post', (ctx) => addSummaryButton(ctx, services, ctx.editedChannelPost));

  composer.callbackQuery(SUMMARY_CALLBACK, async (ctx) => {
    const post = ctx.callbackQuery.message;
    const text = post === undefined || post.date === 0 ? undefined : postText(post as Message);
    if (post === undefined || text === undefined) {
      return void (await ctx.answerCallbackQuery({ text: ctx.t('tap-failed'), show_alert: true }));
    }
    const settings = (await services.store.getChannel(post.chat.id)) ?? DEFAULT_CHANNEL_SETTINGS;
    const job = {
      source: {
        kind: 'channel-post' as const,
        chatId: post.chat.id,
        messageId: post.message_id,
        ...(post.edit_date === undefined ? {} : { editDate: post.edit_date }),
      },
      text,
      language: settings.language,
      length: settings.length,
      payer: {
        userId: ctx.from.id,
        ...(settings.payer === 'sponsor' ? { sponsorChannel: post.chat.id } : {}),
      },
    };
    const work = services.summaries.summarize(job);
    let summary: Awaited<typeof work> | undefined;
    try {
      summary = await within(work, services.settings.tapWaitMs);
    } catch (error) {
      if (error instanceof PaymentRequiredError) {
        return void (await ctx.answerCallbackQuery({
          text: ctx.t('payment-required-alert'),
          show_alert: true,
        }));
      }
      services.logger.warn({ error: describeError(error) }, 'summary for a tap failed');
      return void (await ctx.answerCallbackQuery({ text: ctx.t('tap-failed'), show_alert: true }));
    }
    if (summary !== undefined && summary.summary.length <= ALERT_LIMIT) {
      return void (await ctx.answerCallbackQuery({ text: summary.summary, show_alert: true }));
    }
    // Too long for an alert, or not ready yet: the bot chat shows it (and waits for it) under a deep link.
    if (summary === undefined) {
      work.catch((error: unknown) =>
        services.logger.warn({ error: describeError(error) }, 'summary for a tap failed'),
      );
    }
    const url = deepLink(ctx.me.username, `s_${SummaryService.summaryId(job)}`);
    await ctx.answerCallbackQuery({ url });
  });

  composer.on('my_chat_member', async (ctx) => {
    const { chat, from, old_chat_member: before, new_chat_member: member } = ctx.myChatMember;
    if (chat.type !== 'channel') return;
    const existing = await services.store.getChannel(chat.id);
    if (member.status !== 'administrator') {
      if (existing !== undefined) await services.store.saveChannel({ ...existing, active: false });
      return;
    }
    const canEditMessages = member.can_edit_messages === true;
    const settings: ChannelSettings = {
      ...DEFAULT_CHANNEL_SETTINGS,
      ...existing,
      chatId: chat.id,
      title: chat.title,
      canEditMessages,
      active: true,
      addedBy: existing?.addedBy ?? from.id,
    };
    await services.store.saveChannel(settings);
    const wasAdmin = before.status === 'administrator' && existing?.active === true;
    const missingRight = ctx.t('missing-edit-right', { channel: chat.title });
    let notice: string | undefined;
    if (!wasAdmin) {
      notice = [
        ctx.t('added-to-channel', { channel: chat.title }),
        ...(canEditMessages ? [] : [missingRight]),
        ctx.t('channel-settings-link', { link: deepLink(ctx.me.username, `ch_${chat.id}`) }),
      ].join('\n\n');
    } else if (existing.canEditMessages && !canEditMessages) {
      notice = missingRight;
    }
    if (notice === undefined) return;
    // The admin may never have opened the bot: then Telegram refuses the message, and there is no one else to tell.
    await ctx.api
      .sendMessage(from.id, notice, { parse_mode: 'HTML' })
      .catch((error: unknown) =>
        services.logger.warn({ error: describeError(error) }, 'could not message a channel admin'),
      );
  });

  return composer;
}
