import { Composer } from 'grammy';
import type { BotContext } from '../i18n.js';
import { showChannelSettings } from './channel-settings.js';
import { type BotServices, describeError } from './services.js';
import { deliverSummary } from './summary-messages.js';

/** /start (with deep-link payloads) and /help, in private chats. */
export function commands(services: BotServices): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const privateChat = composer.chatType('private');

  privateChat.command('start', async (ctx) => {
    const payload = ctx.match.trim();
    if (payload.startsWith('s_')) {
      const id = payload.slice(2);
      const summary = await services.summaries.stored(id).then(
        (stored) =>
          stored ??
          services.summaries.inProgress(id)?.catch((error: unknown) => {
            services.logger.warn({ error: describeError(error) }, 'summary for a deep link failed');
            return undefined;
          }),
      );
      if (summary === undefined) return void (await ctx.reply(ctx.t('summary-missing')));
      return deliverSummary(ctx, summary);
    }
    const channelId = payload.match(/^ch_(-\d+)$/)?.[1];
    if (channelId !== undefined) return showChannelSettings(ctx, services, Number(channelId));
    await ctx.reply(ctx.t('welcome', { name: ctx.from.first_name }), { parse_mode: 'HTML' });
  });

  privateChat.command('help', (ctx) =>
    ctx.reply(ctx.t('help', { bot: ctx.me.username }), { parse_mode: 'HTML' }),
  );

  return composer;
}
