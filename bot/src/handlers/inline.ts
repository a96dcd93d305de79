import { Composer } from 'grammy';
import type { InlineQueryResultArticle } from 'grammy/types';
import { clipWords } from '../format.js';
import type { BotContext } from '../i18n.js';
import { firstLink, linkFailureText, summarizeLink } from './links.js';
import { type BotServices, describeError, userSettings, within } from './services.js';
import { summaryMessages } from './summary-messages.js';

const DESCRIPTION_CHARS = 120;
const BUTTON_CHARS = 64;

/** Inline mode: `@bot <link>` offers the article's summary as a message to send. */
export function inlineMode(services: BotServices): Composer<BotContext> {
  const composer = new Composer<BotContext>();

  composer.on('inline_query', async (ctx) => {
    const link = firstLink(ctx.inlineQuery.query);
    if (link === undefined) {
      return void (await ctx.answerInlineQuery([], {
        cache_time: 0,
        button: { text: ctx.t('inline-hint'), start_parameter: 'inline' },
      }));
    }
    const userId = ctx.inlineQuery.from.id;
    const work = summarizeLink(services, link, await userSettings(services, userId), { userId });
    let summary: Awaited<typeof work> | undefined;
    try {
      summary = await within(work, services.settings.inlineWaitMs);
    } catch (error) {
      services.logger.info({ error: describeError(error) }, 'inline link not summarized');
      return void (await ctx.answerInlineQuery([], {
        cache_time: 0,
        button: {
          text: clipWords(linkFailureText(ctx.t, error, services), BUTTON_CHARS),
          start_parameter: 'inline',
        },
      }));
    }
    if (summary === undefined) {
      // It goes on in the background and is stored: the same query a moment later is answered at once.
      work.catch((error: unknown) =>
        services.logger.info({ error: describeError(error) }, 'inline link not summarized'),
      );
      return void (await ctx.answerInlineQuery([], {
        cache_time: 0,
        button: { text: ctx.t('inline-still-reading'), start_parameter: 'inline' },
      }));
    }
    const [message] = summaryMessages(summary);
    const result: InlineQueryResultArticle = {
      type: 'article',
      id: summary.id,
      title: summary.title ?? link,
      description: clipWords(summary.summary, DESCRIPTION_CHARS),
      input_message_content: {
        message_text: message ?? ctx.t('summary-failed'),
        parse_mode: 'HTML',
        link_preview_options: { url: summary.url ?? link },
      },
      ...(summary.url === undefined ? {} : { url: summary.url }),
    };
    await ctx.answerInlineQuery([result], { cache_time: 300 });
  });

  return composer;
}
