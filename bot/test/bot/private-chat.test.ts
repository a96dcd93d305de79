import { readFileSync } from 'node:fs';
import type { Message } from 'grammy/types';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { publicInternetPolicy } from '../../src/links/address-policy.js';
import { createArticleReader } from '../../src/links/read-article.js';
import { parseTelegramHtml } from '../support/bot-api.js';
import { type Harness, startHarness } from '../support/harness.js';
import { type LoopbackServer, startLoopbackServer } from '../support/loopback-server.js';

const article = readFileSync(new URL('../fixtures/pages/news-article.en.html', import.meta.url), 'utf8');
const POST =
  'The city council approved a plan to float 4,000 solar panels on the disused West Dock. ' +
  'The array should power about 900 homes and will be watched closely by anglers and ecologists. ' +
  'If the two-year trial goes well, a second array could follow on the East Dock in 2028.';

let site: LoopbackServer;
let h: Harness;
const user = { id: 501, is_bot: false as const, first_name: 'Ann <3', language_code: 'en' };

beforeAll(async () => {
  site = await startLoopbackServer((request, response) => {
    if (request.url === '/news/solar') {
      return response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(article);
    }
    if (request.url === '/to-metadata') {
      return response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    }
    response.writeHead(404, { 'content-type': 'text/html' }).end('<p>gone</p>');
  });
});
afterAll(() => site.close());

beforeEach(async () => {
  await h?.close();
  const publicPolicy = publicInternetPolicy();
  h = await startHarness({
    readArticle: createArticleReader({
      // The public internet, plus the one loopback site under test.
      policy: {
        allows: (destination) =>
          (destination.address === '127.0.0.1' && destination.port === site.port) ||
          publicPolicy.allows(destination),
      },
      resolve: async (hostname) => (hostname === 'herald.test' ? [{ address: '127.0.0.1', family: 4 }] : []),
    }),
  });
});

describe('commands', () => {
  it('/start greets the user, escaping their name', async () => {
    await h.bot.handleUpdate(h.api.command(user, 'start'));
    const [welcome] = h.api.callsTo('sendMessage');
    expect(welcome).toMatchObject({ chat_id: user.id, parse_mode: 'HTML' });
    expect(String(welcome?.text)).toContain('Hi, Ann &lt;3!');
  });

  it('/help explains inline mode with the bot name', async () => {
    await h.bot.handleUpdate(h.api.command(user, 'help'));
    expect(h.api.shownTexts(user.id)[0]).toContain(`@${h.api.botInfo.username} https://`);
  });

  it('/start with an unknown summary id says it is gone', async () => {
    await h.bot.handleUpdate(h.api.command(user, 'start', 's_doesnotexist'));
    expect(h.api.shownTexts(user.id)).toEqual([
      'This summary is no longer available. Tap the ✨ Summary button under the post again.',
    ]);
  });
});

describe('texts and forwarded posts', () => {
  it('summarizes a pasted text into the progress message', async () => {
    await h.bot.handleUpdate(h.api.privateText(user, POST));
    expect(h.api.sent.map((call) => call.method)).toEqual([
      'sendChatAction',
      'sendMessage',
      'editMessageText',
    ]);
    const [progress] = h.api.callsTo('sendMessage');
    expect(progress?.text).toBe('⏳ Summarizing…');
    const result = h.api.callsTo('editMessageText')[0];
    expect(result).toMatchObject({ chat_id: user.id, parse_mode: 'HTML' });
    expect(parseTelegramHtml(String(result?.text))).toBe(
      '• The city council approved a plan to float 4,000 solar panels on the disused West Dock.\n' +
        '• The array should power about 900 homes and will be watched closely by anglers and ecologists.\n' +
        '• If the two-year trial goes well, a second array could follow on the East Dock in 2028.',
    );
    expect(h.summarizer.requests).toEqual([{ text: POST, language: 'auto', length: 'bullets' }]);
  });

  it('escapes what the summary says', async () => {
    const tricky = `${POST} Tags like <b> & entities like &amp; stay text.`;
    await h.bot.handleUpdate(h.api.privateText(user, tricky));
    expect(h.api.shownTexts(user.id).at(-1)).toContain('Tags like <b> & entities like &amp; stay text.');
  });

  it('summarizes a forwarded channel post and shares it with everyone who forwards it', async () => {
    const origin = {
      type: 'channel' as const,
      chat: { id: -100777, type: 'channel' as const, title: 'News' },
      message_id: 12,
      date: 1,
    };
    const forwarded = { forward_origin: origin } as Partial<Message>;
    await h.bot.handleUpdate(h.api.privateText(user, POST, forwarded));
    const other = { ...user, id: 502 };
    await h.bot.handleUpdate(h.api.privateText(other, POST, forwarded));
    expect(h.summarizer.requests).toHaveLength(1);
    expect(h.api.shownTexts(other.id).at(-1)).toBe(h.api.shownTexts(user.id).at(-1));
  });

  it('asks for more than a short text', async () => {
    await h.bot.handleUpdate(h.api.privateText(user, 'Too short to summarize.'));
    expect(h.api.shownTexts(user.id)).toEqual([
      'Send me a text of at least 200 characters, a forwarded post or a link, and I will summarize it.',
    ]);
    expect(h.summarizer.requests).toHaveLength(0);
  });

  it('says so when the summary fails, without logging the text', async () => {
    h.summarizer.failNext();
    await h.bot.handleUpdate(h.api.privateText(user, POST));
    expect(h.api.shownTexts(user.id).at(-1)).toBe(
      'I could not make a summary right now. Please try again in a minute.',
    );
    expect(h.logs.join('\n')).toContain('text not summarized');
    expect(h.logs.join('\n')).not.toContain('solar');
  });
});

describe('links', () => {
  it('answers a link with the article summary on top, then its title and source', async () => {
    const link = `http://herald.test:${site.port}/news/solar`;
    await h.bot.handleUpdate(h.api.privateText(user, link));
    expect(h.api.sent.map((call) => call.method)).toEqual([
      'sendChatAction',
      'sendMessage',
      'editMessageText',
    ]);
    expect(h.api.callsTo('sendMessage')[0]?.text).toBe('⏳ Reading the page…');
    const result = h.api.callsTo('editMessageText')[0] ?? {};
    expect(result.link_preview_options).toEqual({ url: link, prefer_large_media: true });
    expect(String(result.text)).toContain(
      `📰 <a href="${link}"><b>Harbour city trials floating solar farm on disused docks</b></a>`,
    );
    const shown = parseTelegramHtml(String(result.text));
    expect(
      shown.startsWith('• A pilot array of 4,000 solar panels has been floated onto the disused West Dock'),
    ).toBe(true);
    expect(
      shown.endsWith('📰 Harbour city trials floating solar farm on disused docks\nThe Coastal Herald'),
    ).toBe(true);
    expect(h.summarizer.requests[0]).toMatchObject({
      title: 'Harbour city trials floating solar farm on disused docks',
    });
  });

  it('reads a link once for everyone', async () => {
    const link = `http://herald.test:${site.port}/news/solar`;
    const fetchesBefore = site.hosts.length;
    await Promise.all([
      h.bot.handleUpdate(h.api.privateText(user, link)),
      h.bot.handleUpdate(h.api.privateText({ ...user, id: 503 }, `look ${link}#comments`)),
    ]);
    expect(site.hosts.length - fetchesBefore).toBe(1);
    expect(h.summarizer.requests).toHaveLength(1);
    expect(h.api.shownTexts(503).at(-1)).toBe(h.api.shownTexts(user.id).at(-1));
  });

  it.each([
    ['http://127.0.0.1/admin', 'I can’t open this link: it leads to a private or local network address.'],
    ['http://2130706433/', 'I can’t open this link: it leads to a private or local network address.'],
    ['http://[::ffff:127.0.0.1]/', 'I can’t open this link: it leads to a private or local network address.'],
    [
      'http://169.254.169.254/latest/meta-data/',
      'I can’t open this link: it leads to a private or local network address.',
    ],
    ['http://localhost./', 'I could not find this site. Is the address right?'],
    ['REDIRECT', 'I can’t open this link: it leads to a private or local network address.'],
    ['MISSING', 'The site answered with an error (404).'],
  ])('refuses or explains %s', async (link, answer) => {
    const url =
      link === 'REDIRECT'
        ? `http://herald.test:${site.port}/to-metadata`
        : link === 'MISSING'
          ? `http://herald.test:${site.port}/missing`
          : link;
    await h.bot.handleUpdate(h.api.privateText(user, url));
    expect(h.api.shownTexts(user.id)).toEqual(['⏳ Reading the page…', answer]);
    expect(h.summarizer.requests).toHaveLength(0);
    expect(h.logs.join('\n')).not.toContain(url);
  });
});
