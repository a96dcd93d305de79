import { type Article, extractArticle } from './extract.js';
import { type FetchPageOptions, fetchPage } from './fetch-page.js';

/** Fetches a linked page (SSRF-guarded) and extracts its article. */
export type ReadArticle = (url: string, signal?: AbortSignal) => Promise<Article>;

export function createArticleReader(options: Omit<FetchPageOptions, 'signal'> = {}): ReadArticle {
  return async (url, signal) =>
    extractArticle(await fetchPage(url, signal === undefined ? options : { ...options, signal }));
}
