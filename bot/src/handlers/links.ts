import { ExtractError } from '../links/extract.js';
import { FetchPageError } from '../links/fetch-page.js';
import type { StoredSummary } from '../store/types.js';
import { SummaryService } from '../summarize/service.js';
import { texts } from '../texts.js';
import type { BotServices } from './services.js';

/** Finds the first http(s) link in a text. */
export function firstLink(text: string): string | undefined {
  return text.match(/https?:\/\/[^\s<>"]+/i)?.[0]?.replace(/[.,;:!?)\]}'»]+$/, '');
}

/**
 * The summary of the article a link points to. The page is fetched only when the summary is neither stored
 * nor being made: the same link sent by many people at once is read once.
 */
export function summarizeLink(services: BotServices, url: string): Promise<StoredSummary> {
  const { privateLanguage: language, privateLength: length } = services.settings;
  const source = { kind: 'link' as const, url: withoutFragment(url) };
  return services.summaries.summarizeOnce(
    SummaryService.summaryId({ source, language, length }),
    async () => {
      const article = await services.readArticle(url);
      return {
        source,
        text: article.text,
        title: article.title,
        url: article.url,
        ...(article.siteName === undefined ? {} : { siteName: article.siteName }),
        language,
        length,
      };
    },
  );
}

/** The same page under one name: URL-normalized, without the #fragment. */
function withoutFragment(link: string): string {
  try {
    const url = new URL(link);
    url.hash = '';
    return url.href;
  } catch {
    // Not a URL: the fetcher says so to the user.
    return link;
  }
}

/** What to tell the user when a link could not be summarized. */
export function linkFailureText(error: unknown): string {
  if (error instanceof FetchPageError) return texts.pageError(error.code, error.status);
  if (error instanceof ExtractError) return texts.pageError('no-article');
  return texts.summaryFailed;
}
