import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ExtractError, extractArticle } from '../../src/links/extract.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/pages/${name}`, import.meta.url), 'utf8');
const html = (name: string, url = 'https://example.com/story') =>
  extractArticle({ url, contentType: 'text/html', text: fixture(name) });

describe('extractArticle', () => {
  it('extracts a news article without the page around it', () => {
    const article = html('news-article.en.html', 'https://herald.example/news/solar');
    expect(article).toMatchObject({
      url: 'https://herald.example/news/solar',
      title: 'Harbour city trials floating solar farm on disused docks',
      byline: 'Maya Okafor',
      siteName: 'The Coastal Herald',
      lang: 'en-GB',
      publishedTime: '2026-11-20T08:30:00Z',
      excerpt: 'A pilot array of 4,000 panels on the old West Dock could power 900 homes, the council says.',
    });
    expect(article.text.startsWith('A pilot array of 4,000 solar panels has been floated')).toBe(true);
    expect(article.text).toContain('Concerns from anglers and ecologists');
    expect(article.text).toContain('We need two summers of data');
    expect(article.text.endsWith('came from a national clean energy fund.')).toBe(true);
    for (const chrome of [
      'cookies',
      'Subscribe',
      'Most read',
      'dockwatcher',
      'All rights reserved',
      'dataLayer',
    ]) {
      expect(article.text, chrome).not.toContain(chrome);
    }
  });

  it('keeps paragraphs apart and list items on their own lines', () => {
    const { text } = html('news-article.en.html');
    expect(text).toContain('on hot days.\n\n');
    expect(text).toContain(
      'measurements of:\n\n• water temperature at three depths,\n• dissolved oxygen near the pontoons and in open water,\n• fish counts',
    );
    expect(text).not.toMatch(/[ \t]{2,}|\n{3,}/);
  });

  it('extracts a Russian blog post, with its language, author and code block', () => {
    const article = html('blog-post.ru.html');
    expect(article).toMatchObject({
      title: 'Как мы перевели сборку на кэширование и ускорили CI в четыре раза',
      byline: 'Алексей Смирнов',
      siteName: 'Блог команды Тропа',
      lang: 'ru',
    });
    expect(article.text.startsWith('Ещё весной полная сборка')).toBe(true);
    expect(article.text).toContain('• Запретили задачам писать за пределы своих выходных каталогов.');
    expect(article.text).toContain(
      'turbo run build --filter=...[origin/main]\nturbo run test --cache-dir=.turbo',
    );
    expect(article.text).not.toContain('Ваш e-mail');
    expect(article.text).not.toContain('Вакансии');
  });

  it('takes a plain text page as it is, its first line as the title', () => {
    const article = extractArticle({
      url: 'https://example.com/notes.txt',
      contentType: 'text/plain',
      text: fixture('release-notes.txt'),
    });
    expect(article.title).toBe('Release notes: version 4.2');
    expect(article.text.split('\n\n')).toHaveLength(4);
    expect(article.byline).toBeUndefined();
  });

  it('titles a plain text page without a short first line by its host', () => {
    const text = `${'word '.repeat(60)}\n\nmore`;
    expect(extractArticle({ url: 'https://notes.example/x', contentType: 'text/plain', text }).title).toBe(
      'notes.example',
    );
  });

  it('refuses a page without article text', () => {
    expect(() => html('login-page.html')).toThrow(ExtractError);
    expect(() => extractArticle({ url: 'https://example.com/', contentType: 'text/html', text: '' })).toThrow(
      'no readable article text',
    );
  });

  it('handles a page at the fetch size limit quickly', () => {
    const paragraph = `<p>${'Floating solar panels keep cooler on water, which raises their output. '.repeat(10)}</p>`;
    const big = `<html><head><title>Big</title></head><body><article>${paragraph.repeat(2800)}</article></body></html>`;
    expect(big.length).toBeGreaterThan(2_000_000);
    const started = performance.now();
    const article = extractArticle({ url: 'https://example.com/big', contentType: 'text/html', text: big });
    const elapsed = performance.now() - started;
    expect(article.text.length).toBeGreaterThan(1_900_000);
    expect(elapsed).toBeLessThan(5_000);
  });
});

describe('extractArticle on pages that leave out <html> and <body>', () => {
  const paragraph =
    'The committee met on Tuesday and agreed to publish the measurements every month from now on.';

  it('reads a bare fragment', () => {
    const article = extractArticle({
      url: 'https://example.com/fragment',
      contentType: 'text/html',
      text: `<title>Fragment</title><p>${paragraph}</p><p>${paragraph}</p>`,
    });
    expect(article.text).toBe(`${paragraph}\n\n${paragraph}`);
    expect(article.title).toBe('Fragment');
  });

  it('keeps the language of an <html> without <body>', () => {
    const article = extractArticle({
      url: 'https://example.com/no-body',
      contentType: 'text/html',
      text: `<!doctype html><html lang="de"><p>${paragraph}</p></html>`,
    });
    expect(article).toMatchObject({ lang: 'de', text: paragraph });
  });
});
