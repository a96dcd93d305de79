import { afterEach, describe, expect, it } from 'vitest';
import type { Article } from '../../src/links/extract.js';
import { FetchPageError } from '../../src/links/fetch-page.js';
import { parseTelegramHtml } from '../support/bot-api.js';
import { type Harness, startHarness } from '../support/harness.js';

const ARTICLE: Article = {
  url: 'https://herald.example/news/solar',
  title: 'Harbour city trials floating solar farm',
  siteName: 'The Coastal Herald',
  text:
    'A pilot array of 4,000 solar panels has been floated onto the disused West Dock. ' +
    'It should power about 900 homes. Ecologists want two summers of data before it grows.',
};

const user = { id: 777, is_bot: false as const, first_name: 'Ivy' };
let h: Harness;
afterEach(() => h.close());

/** An article reader that serves one article, counting reads, after an optional delay. */
function articleReader(delayMs = 0) {
  const reads: string[] = [];
  const read = async (url: string) => {
    reads.push(url);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (url.includes('private')) throw new FetchPageError('refused-address', 'refused');
    return ARTICLE;
  };
  return { reads, read };
}

describe('inline mode', () => {
  it('offers the summary of a linked article as a message', async () => {
    const reader = articleReader();
    h = await startHarness({ readArticle: reader.read });
    await h.bot.handleUpdate(h.api.inlineQuery(user, 'https://herald.example/news/solar'));
    const [answer] = h.api.callsTo('answerInlineQuery');
    expect(answer).toMatchObject({ cache_time: 300 });
    const [result] = (answer?.results ?? []) as Record<string, unknown>[];
    expect(result).toMatchObject({
      type: 'article',
      title: 'Harbour city trials floating solar farm',
      url: 'https://herald.example/news/solar',
      input_message_content: {
        parse_mode: 'HTML',
        link_preview_options: { url: 'https://herald.example/news/solar' },
      },
    });
    const shown = parseTelegramHtml(
      String((result?.input_message_content as Record<string, unknown> | undefined)?.message_text),
    );
    expect(shown).toBe(
      '• A pilot array of 4,000 solar panels has been floated onto the disused West Dock.\n' +
        '• It should power about 900 homes.\n' +
        '• Ecologists want two summers of data before it grows.\n\n' +
        '📰 Harbour city trials floating solar farm\nThe Coastal Herald',
    );
    expect(String(result?.description)).toMatch(/^• A pilot array/);
  });

  it('asks for a link when the query has none', async () => {
    h = await startHarness({ readArticle: articleReader().read });
    await h.bot.handleUpdate(h.api.inlineQuery(user, 'hello'));
    expect(h.api.callsTo('answerInlineQuery')[0]).toMatchObject({
      results: [],
      cache_time: 0,
      button: { text: 'Paste a link to summarize', start_parameter: 'inline' },
    });
  });

  it('says why a link cannot be read', async () => {
    h = await startHarness({ readArticle: articleReader().read });
    await h.bot.handleUpdate(h.api.inlineQuery(user, 'http://private.example/'));
    expect(h.api.callsTo('answerInlineQuery')[0]).toMatchObject({
      results: [],
      button: { text: 'I can’t open this link: it leads to a private or local network…' },
    });
  });

  it('asks to try again while a slow page is read, then answers from the stored summary', async () => {
    const reader = articleReader(100);
    h = await startHarness({ readArticle: reader.read, settings: { inlineWaitMs: 10 } });
    await h.bot.handleUpdate(h.api.inlineQuery(user, 'https://herald.example/news/solar'));
    expect(h.api.callsTo('answerInlineQuery')[0]).toMatchObject({
      results: [],
      button: { text: 'Still reading… try again in a moment' },
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await h.bot.handleUpdate(h.api.inlineQuery(user, 'https://herald.example/news/solar'));
    expect(h.api.callsTo('answerInlineQuery')[1]?.results).toHaveLength(1);
    expect(reader.reads).toHaveLength(1);
    expect(h.summarizer.requests).toHaveLength(1);
  });
});
