import type { Translate } from '../i18n.js';
import { ExtractError } from '../links/extract.js';
import { FetchPageError } from '../links/fetch-page.js';
import type { Payer } from '../payments/billing.js';
import type { StoredSummary, UserSettings } from '../store/types.js';
import { SummaryService } from '../summarize/service.js';
import type { BotServices } from './services.js';
import { summaryFailureText } from './summary-failures.js';

/** Finds the first http(s) link in a text. */
export function firstLink(text: string): string | undefined {
  return text.match(/https?:\/\/[^\s<>"]+/i)?.[0]?.replace(/[.,;:!?)\]}'»]+$/, '');
}

/**
 * The summary of the article a link points to. The page is fetched only when the summary is neither stored
 * nor being made: the same link sent by many people at once is read once.
 */
export function summarizeLink(
  services: BotServices,
  url: string,
  { language, length }: Pick<UserSettings, 'language' | 'length'>,
  payer: Payer,
): Promise<StoredSummary> {
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
        payer,
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
export function linkFailureText(t: Translate, error: unknown, services: BotServices): string {
  if (error instanceof FetchPageError) {
    return t('page-error', {
      code: error.code,
      ...(error.status === undefined ? {} : { status: error.status }),
    });
  }
  if (error instanceof ExtractError) return t('page-error', { code: 'no-article' });
  return summaryFailureText(t, error, services);
}
