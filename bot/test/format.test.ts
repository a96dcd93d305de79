import { describe, expect, it } from 'vitest';
import {
  clipWords,
  escapeHtml,
  MESSAGE_LIMIT,
  renderMessages,
  shownLength,
  sourceFooter,
  splitText,
} from '../src/format.js';
import { parseTelegramHtml } from './support/bot-api.js';

describe('escapeHtml', () => {
  it('escapes what Telegram HTML reserves', () => {
    expect(escapeHtml('a < b && c > "d"')).toBe('a &lt; b &amp;&amp; c &gt; &quot;d&quot;');
    expect(parseTelegramHtml(escapeHtml('<b>not bold</b> &amp;'))).toBe('<b>not bold</b> &amp;');
  });
});

describe('splitText', () => {
  it('keeps short texts whole', () => {
    expect(splitText('  one paragraph  ')).toEqual(['one paragraph']);
  });

  it('splits at paragraph ends first, within the limit', () => {
    const paragraph = 'word '.repeat(150).trim();
    const pieces = splitText(Array(12).fill(paragraph).join('\n\n'));
    expect(pieces.length).toBeGreaterThan(1);
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
      expect(piece.startsWith('word') && piece.endsWith('word')).toBe(true);
    }
    expect(pieces.join('\n\n')).toBe(Array(12).fill(paragraph).join('\n\n'));
  });

  it('cuts text without any break at the limit', () => {
    const pieces = splitText('x'.repeat(9000));
    expect(pieces.map((piece) => piece.length)).toEqual([4096, 4096, 808]);
  });
});

describe('renderMessages', () => {
  const footer = sourceFooter({
    url: 'https://example.com/?a=1&b=2',
    title: 'A <title>',
    siteName: 'Example & Co',
  });

  it('puts the footer under the summary', () => {
    const [message, ...rest] = renderMessages('Summary & more.', footer);
    expect(rest).toEqual([]);
    expect(parseTelegramHtml(message ?? '')).toBe('Summary & more.\n\n📰 A <title>\nExample & Co');
    expect(message).toContain('href="https://example.com/?a=1&amp;b=2"');
  });

  it('keeps every message within the limit Telegram counts after parsing', () => {
    const summary = `${'A sentence with <tags> & ampersands. '.repeat(200)}`;
    const messages = renderMessages(summary, footer);
    expect(messages.length).toBeGreaterThan(1);
    for (const message of messages) {
      expect(parseTelegramHtml(message).length).toBeLessThanOrEqual(MESSAGE_LIMIT);
      expect(shownLength(message)).toBe(parseTelegramHtml(message).length);
    }
  });

  it('names the host when there is no site name', () => {
    expect(parseTelegramHtml(sourceFooter({ url: 'https://blog.example/post', title: 'Post' }))).toBe(
      '📰 Post\nblog.example',
    );
  });
});

describe('clipWords', () => {
  it('cuts at a word end with an ellipsis', () => {
    expect(clipWords('one two three four', 12)).toBe('one two…');
    expect(clipWords('short', 12)).toBe('short');
  });
});
