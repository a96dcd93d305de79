/** Telegram HTML parse mode: what the bot sends is escaped text inside a few tags of its own. */

export const MESSAGE_LIMIT = 4096;
export const ALERT_LIMIT = 200;

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Splits plain text into pieces of at most `limit` characters, at paragraph, line, sentence or word ends
 * where possible. Telegram counts the text after its HTML is parsed, so the limit applies before escaping.
 */
export function splitText(text: string, limit = MESSAGE_LIMIT): string[] {
  const pieces: string[] = [];
  let rest = text.trim();
  while (rest.length > limit) {
    const head = rest.slice(0, limit);
    const cut = [
      head.lastIndexOf('\n\n'),
      head.lastIndexOf('\n'),
      head.lastIndexOf('. '),
      head.lastIndexOf(' '),
    ].find((index) => index > limit / 2);
    const end = cut === undefined ? limit : cut + 1;
    pieces.push(rest.slice(0, end).trimEnd());
    rest = rest.slice(end).trimStart();
  }
  if (rest !== '') pieces.push(rest);
  return pieces;
}

/** Cuts a text to `limit` characters at a word end, marking the cut with an ellipsis. */
export function clipWords(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const head = text.slice(0, limit - 1);
  const space = head.lastIndexOf(' ');
  return `${(space > limit / 2 ? head.slice(0, space) : head).replace(/[\s,.;:]+$/, '')}…`;
}

export const deepLink = (botUsername: string, payload: string): string =>
  `https://t.me/${botUsername}?start=${encodeURIComponent(payload)}`;

/** The source line under a link summary: the title as a link, then site and author. */
export function sourceFooter(source: {
  url: string;
  title: string;
  siteName?: string;
  byline?: string;
}): string {
  const link = `<a href="${escapeHtml(source.url)}"><b>${escapeHtml(source.title)}</b></a>`;
  const details = [source.siteName ?? new URL(source.url).hostname, source.byline].filter(
    (detail): detail is string => detail !== undefined && detail !== '',
  );
  return `📰 ${link}\n<i>${escapeHtml(details.join(' · '))}</i>`;
}

/** Length of the text an HTML message shows, which is what Telegram's limit counts. */
export function shownLength(html: string): number {
  return html.replace(/<[^>]*>/g, '').replace(/&(lt|gt|amp|quot);/g, '_').length;
}

/**
 * Renders a summary as HTML messages: the summary (escaped) split to fit, then an HTML footer after a blank
 * line on the last message, or on a message of its own when it does not fit there.
 */
export function renderMessages(summary: string, footerHtml?: string): string[] {
  const pieces = splitText(summary);
  const html = pieces.map(escapeHtml);
  if (footerHtml === undefined) return html;
  const last = pieces.at(-1);
  if (last === undefined) return [footerHtml];
  if (last.length + 2 + shownLength(footerHtml) > MESSAGE_LIMIT) return [...html, footerHtml];
  html[html.length - 1] = `${html.at(-1)}\n\n${footerHtml}`;
  return html;
}
