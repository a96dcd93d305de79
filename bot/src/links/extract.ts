import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';
import type { FetchedPage } from './fetch-page.js';

/** The readable part of a fetched page: what gets summarized, and what the answer shows as its source. */
export interface Article {
  /** The page's final URL. */
  url: string;
  title: string;
  byline?: string;
  siteName?: string;
  /** The language the page declares (`<html lang>`), as written there. */
  lang?: string;
  publishedTime?: string;
  excerpt?: string;
  /** Plain text, paragraphs separated by blank lines, list items by line breaks. */
  text: string;
}

export class ExtractError extends Error {
  override readonly name = 'ExtractError';
  constructor(
    readonly code: 'no-article',
    message: string,
  ) {
    super(message);
  }
}

/** Pages shorter than this after extraction hold no article worth summarizing. */
const MIN_TEXT_CHARS = 40;
const MAX_TITLE_CHARS = 200;

export function extractArticle(page: Pick<FetchedPage, 'url' | 'contentType' | 'text'>): Article {
  const article =
    page.contentType === 'text/plain' ? fromPlainText(page.url, page.text) : fromHtml(page.url, page.text);
  if (article.text.length < MIN_TEXT_CHARS) {
    throw new ExtractError('no-article', 'the page has no readable article text');
  }
  return article;
}

function fromPlainText(url: string, text: string): Article {
  const normalized = text
    .replace(/\r\n?/g, '\n')
    .split(/\n{2,}/)
    .map((paragraph) => paragraph.replace(/[ \t]+/g, ' ').trim())
    .filter((paragraph) => paragraph !== '')
    .join('\n\n');
  const firstLine = normalized.split('\n', 1)[0] ?? '';
  const title = firstLine.length <= MAX_TITLE_CHARS && firstLine !== '' ? firstLine : new URL(url).hostname;
  return { url, title, text: normalized };
}

function fromHtml(url: string, html: string): Article {
  const document = parseDocument(html);
  const parsed = new Readability<string>(document as unknown as Document, { serializer: blockText }).parse();
  const siteName = clean(parsed?.siteName);
  const title = clean(parsed?.title) ?? new URL(url).hostname;
  return withoutEmpty({
    url,
    title: withoutSiteSuffix(title, siteName).slice(0, MAX_TITLE_CHARS),
    byline: clean(parsed?.byline),
    siteName,
    lang: clean(parsed?.lang),
    publishedTime: clean(parsed?.publishedTime),
    excerpt: clean(parsed?.excerpt),
    // Readability returns null only for pages without any body text.
    text: parsed?.content ?? '',
  });
}

/**
 * linkedom builds only the elements a page spells out, while HTML lets a page leave out `<html>` and `<body>`:
 * such pages are wrapped in them first.
 */
function parseDocument(html: string) {
  if (/<html[\s>]/i.test(html) && /<body[\s>]/i.test(html)) return parseHTML(html).document;
  const lang = html.match(/<html[^>]*\slang\s*=\s*["']?([\w-]+)/i)?.[1];
  const headTags = /<title[^>]*>[\s\S]*?<\/title>|<(meta|link|base)[^>]*>/gi;
  const head = html.match(headTags)?.join('') ?? '';
  const body = html.replace(headTags, '').replace(/<!doctype[^>]*>|<\/?(html|head|body)(\s[^>]*)?>/gi, '');
  const open = lang === undefined ? '<html>' : `<html lang="${lang}">`;
  return parseHTML(`<!doctype html>${open}<head>${head}</head><body>${body}</body></html>`).document;
}

/** "Title — Site name" → "Title": the answer shows the site name on its own. */
function withoutSiteSuffix(title: string, siteName: string | undefined): string {
  if (siteName === undefined || !title.endsWith(siteName)) return title;
  const head = title.slice(0, -siteName.length).match(/^(.+?)\s+[|\-–—·:»]\s*$/);
  return head?.[1] ?? title;
}

function clean(value: string | null | undefined): string | undefined {
  const trimmed = value?.replace(/\s+/g, ' ').trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

function withoutEmpty<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

const BLOCK_ELEMENTS = new Set([
  'ADDRESS',
  'ARTICLE',
  'ASIDE',
  'BLOCKQUOTE',
  'DD',
  'DIV',
  'DL',
  'DT',
  'FIGCAPTION',
  'FIGURE',
  'FOOTER',
  'H1',
  'H2',
  'H3',
  'H4',
  'H5',
  'H6',
  'HEADER',
  'HR',
  'LI',
  'MAIN',
  'OL',
  'P',
  'PRE',
  'SECTION',
  'TABLE',
  'TR',
  'UL',
]);
const SKIPPED_ELEMENTS = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'SVG', 'BUTTON']);

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;

/** Text of a DOM subtree with its block structure kept: the model reads paragraphs, not one long line. */
function blockText(root: Node): string {
  const blocks: { text: string; listItem: boolean }[] = [];
  let line = '';
  let inListItem = false;
  let bulletPending = false;
  const flush = () => {
    const text = line.replace(/\s+/g, ' ').trim();
    line = '';
    if (text === '') return;
    blocks.push({ text: bulletPending ? `• ${text}` : text, listItem: inListItem });
    bulletPending = false;
  };
  const walk = (node: Node) => {
    if (node.nodeType === TEXT_NODE) {
      line += node.textContent ?? '';
      return;
    }
    if (node.nodeType !== ELEMENT_NODE) return;
    const tag = node.nodeName.toUpperCase();
    if (SKIPPED_ELEMENTS.has(tag)) return;
    if (tag === 'BR') return flush();
    if (tag === 'PRE') {
      flush();
      const text = (node.textContent ?? '').replace(/^\n+|\s+$/g, '');
      if (text !== '') blocks.push({ text, listItem: false });
      return;
    }
    if (!BLOCK_ELEMENTS.has(tag)) {
      for (const child of node.childNodes) walk(child);
      return;
    }
    flush();
    const outerListItem = inListItem;
    if (tag === 'LI') {
      inListItem = true;
      bulletPending = true;
    }
    for (const child of node.childNodes) walk(child);
    flush();
    bulletPending = false;
    inListItem = outerListItem;
  };
  walk(root);
  flush();
  return blocks
    .map((block, index) => {
      const previous = blocks[index - 1];
      if (previous === undefined) return block.text;
      return `${previous.listItem && block.listItem ? '\n' : '\n\n'}${block.text}`;
    })
    .join('');
}
