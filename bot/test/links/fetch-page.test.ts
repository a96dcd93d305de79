import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DestinationPolicy, publicInternetPolicy } from '../../src/links/address-policy.js';
import {
  type FetchPageErrorCode,
  type FetchPageOptions,
  fetchPage,
  type ResolveHost,
} from '../../src/links/fetch-page.js';
import { type LoopbackServer, startLoopbackServer } from '../support/loopback-server.js';

const ARTICLE =
  '<!doctype html><html><head><title>Hello</title></head><body><p>Привет, мир</p></body></html>';

let server: LoopbackServer;
/** The public policy plus exactly one exemption: the server under test. */
let policy: DestinationPolicy;
let options: FetchPageOptions;
const publicPolicy = publicInternetPolicy();
/** Names the tests resolve without DNS; everything else fails to resolve. */
const names: Record<string, string[]> = {
  'article.test': ['127.0.0.1'],
  'mixed.test': ['127.0.0.1', '10.0.0.7'],
  'internal.test': ['192.168.0.10'],
  'localhost.': ['127.0.0.1', '::1'],
};
let resolveCalls: string[] = [];
const resolve: ResolveHost = async (hostname) => {
  resolveCalls.push(hostname);
  const addresses = names[hostname];
  if (addresses === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

beforeAll(async () => {
  server = await startLoopbackServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://placeholder');
    const redirect = (location: string) => response.writeHead(302, { location }).end();
    switch (url.pathname) {
      case '/article':
        return response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(ARTICLE);
      case '/plain':
        return response.writeHead(200, { 'content-type': 'text/plain' }).end('just text');
      case '/xhtml':
        return response.writeHead(200, { 'content-type': 'application/xhtml+xml' }).end(ARTICLE);
      case '/cp1251':
        return response
          .writeHead(200, { 'content-type': 'text/html; charset=windows-1251' })
          .end(Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2]));
      case '/meta-charset':
        return response
          .writeHead(200, { 'content-type': 'text/html' })
          .end(
            Buffer.concat([
              Buffer.from('<html><head><meta charset="windows-1251"></head><body>'),
              Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2]),
            ]),
          );
      case '/gzip':
        return response
          .writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' })
          .end(gzipSync(ARTICLE));
      case '/gzip-bomb':
        return response
          .writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' })
          .end(gzipSync(Buffer.alloc(50 * 1024 * 1024, 'a')));
      case '/bad-gzip':
        return response
          .writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' })
          .end('not gzip at all');
      case '/endless': {
        response.writeHead(200, { 'content-type': 'text/html' });
        const chunk = Buffer.alloc(64 * 1024, 'x');
        const pump = () => {
          while (response.write(chunk)) {}
          response.once('drain', pump);
        };
        response.on('close', () => response.removeAllListeners('drain'));
        return pump();
      }
      case '/hang':
        return;
      case '/slow-body':
        response.writeHead(200, { 'content-type': 'text/html' });
        response.write('<html>');
        return;
      case '/image':
        return response.writeHead(200, { 'content-type': 'image/png' }).end('png');
      case '/no-type':
        return response.writeHead(200).end(ARTICLE);
      case '/missing':
        return response.writeHead(404, { 'content-type': 'text/html' }).end('not here');
      case '/redirect':
        return redirect(url.searchParams.get('to') ?? '/article');
      case '/chain': {
        const left = Number(url.searchParams.get('n'));
        return redirect(left > 0 ? `/chain?n=${left - 1}` : '/article');
      }
      case '/redirect-no-location':
        return response.writeHead(302).end();
      default:
        return response.writeHead(500).end();
    }
  });
  policy = {
    allows: (destination) =>
      (destination.address === '127.0.0.1' && destination.port === server.port) ||
      publicPolicy.allows(destination),
  };
  options = { policy, resolve, timeoutMs: 3_000 };
});

afterAll(() => server.close());

async function fetchError(link: string, overrides: FetchPageOptions = {}): Promise<FetchPageErrorCode> {
  const error = await fetchPage(link, { ...options, ...overrides }).then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error, `${link} should fail`).toMatchObject({ name: 'FetchPageError' });
  return (error as { code: FetchPageErrorCode }).code;
}

describe('fetchPage', () => {
  it('fetches an HTML page from an allowed address', async () => {
    const page = await fetchPage(`${server.origin}/article`, options);
    expect(page).toEqual({
      url: `${server.origin}/article`,
      hops: [`${server.origin}/article`],
      status: 200,
      contentType: 'text/html',
      text: ARTICLE,
      truncated: false,
    });
  });

  it('accepts XHTML and plain text', async () => {
    expect((await fetchPage(`${server.origin}/xhtml`, options)).contentType).toBe('application/xhtml+xml');
    expect(await fetchPage(`${server.origin}/plain`, options)).toMatchObject({
      contentType: 'text/plain',
      text: 'just text',
    });
  });

  it('resolves a host name once and connects to the checked address', async () => {
    resolveCalls = [];
    const page = await fetchPage(`http://article.test:${server.port}/article`, options);
    expect(page.text).toBe(ARTICLE);
    expect(resolveCalls).toEqual(['article.test']);
    expect(server.hosts.at(-1)).toBe(`article.test:${server.port}`);
  });

  it('refuses a host when any of its addresses is refused', async () => {
    expect(await fetchError(`http://mixed.test:${server.port}/article`)).toBe('refused-address');
    expect(await fetchError(`http://internal.test:${server.port}/article`)).toBe('refused-address');
    expect(await fetchError(`http://localhost.:${server.port}/article`)).toBe('refused-address');
  });

  it('refuses non-public literals in every spelling with the default policy', async () => {
    const links = [
      'http://127.0.0.1/',
      'http://0x7f.1/',
      'http://2130706433/',
      'http://0177.0.0.1/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/',
      'http://10.0.0.1/',
      'http://100.64.0.1/',
      'http://0.0.0.0/',
      'http://[::]/',
    ];
    for (const link of links) {
      expect(await fetchError(link, { policy: publicPolicy }), link).toBe('refused-address');
    }
  });

  it('refuses localhost. through the system resolver with the default policy', async () => {
    const code = await fetchError('http://localhost./', { policy: publicPolicy, resolve: undefined });
    // Depending on the host's resolver, localhost. resolves to loopback or not at all.
    expect(['refused-address', 'dns-failed']).toContain(code);
  });

  it('refuses the server under test on a port the policy does not exempt', async () => {
    expect(await fetchError(`http://127.0.0.1:${server.port + 1}/article`)).toBe('refused-address');
  });

  it('follows redirects, checking each hop', async () => {
    const page = await fetchPage(`${server.origin}/chain?n=2`, options);
    expect(page.hops).toEqual([
      `${server.origin}/chain?n=2`,
      `${server.origin}/chain?n=1`,
      `${server.origin}/chain?n=0`,
      `${server.origin}/article`,
    ]);
    expect(page.url).toBe(`${server.origin}/article`);
    expect(page.text).toBe(ARTICLE);
  });

  it('refuses redirects to refused addresses and ports', async () => {
    const targets = [
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/',
      `http://127.0.0.1:${server.port + 1}/`,
      `http://0x7f.1:${server.port + 1}/`,
      `http://[::1]:${server.port}/article`,
      `http://[::ffff:127.0.0.1]:${server.port}/article`,
      `http://internal.test:${server.port}/article`,
      `http://localhost.:${server.port}/article`,
    ];
    for (const target of targets) {
      const link = `${server.origin}/redirect?to=${encodeURIComponent(target)}`;
      expect(await fetchError(link), target).toBe('refused-address');
    }
  });

  it('refuses redirects to other schemes and broken redirects', async () => {
    const toFile = `${server.origin}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`;
    expect(await fetchError(toFile)).toBe('unsupported-scheme');
    expect(await fetchError(`${server.origin}/redirect-no-location`)).toBe('invalid-url');
  });

  it('follows at most maxRedirects redirects', async () => {
    expect((await fetchPage(`${server.origin}/chain?n=4`, options)).hops).toHaveLength(6);
    expect(await fetchError(`${server.origin}/chain?n=5`)).toBe('too-many-redirects');
    expect(await fetchError(`${server.origin}/chain?n=1`, { maxRedirects: 1 })).toBe('too-many-redirects');
  });

  it('refuses other schemes and malformed links', async () => {
    expect(await fetchError('ftp://example.com/file')).toBe('unsupported-scheme');
    expect(await fetchError('javascript:alert(1)')).toBe('unsupported-scheme');
    expect(await fetchError('file:///etc/passwd')).toBe('unsupported-scheme');
    expect(await fetchError('not a link')).toBe('invalid-url');
    expect(await fetchError(`http://user:secret@127.0.0.1:${server.port}/article`)).toBe('invalid-url');
  });

  it('reports DNS failures', async () => {
    expect(await fetchError('http://nowhere.test/')).toBe('dns-failed');
    expect(await fetchError('http://empty.test/', { resolve: async () => [] })).toBe('dns-failed');
  });

  it('refuses content that is not a page', async () => {
    expect(await fetchError(`${server.origin}/image`)).toBe('unsupported-content-type');
    expect(await fetchError(`${server.origin}/no-type`)).toBe('unsupported-content-type');
  });

  it('reports HTTP errors with their status', async () => {
    await expect(fetchPage(`${server.origin}/missing`, options)).rejects.toMatchObject({
      code: 'http-status',
      status: 404,
    });
  });

  it('cuts an endless body at maxBytes', async () => {
    const page = await fetchPage(`${server.origin}/endless`, { ...options, maxBytes: 300_000 });
    expect(page.truncated).toBe(true);
    expect(page.text.length).toBe(300_000);
  });

  it('decodes gzip and cuts a decompression bomb at maxBytes', async () => {
    expect((await fetchPage(`${server.origin}/gzip`, options)).text).toBe(ARTICLE);
    const bomb = await fetchPage(`${server.origin}/gzip-bomb`, { ...options, maxBytes: 100_000 });
    expect(bomb).toMatchObject({ truncated: true });
    expect(bomb.text.length).toBe(100_000);
    expect(await fetchError(`${server.origin}/bad-gzip`)).toBe('invalid-body');
  });

  it('decodes the declared or sniffed charset', async () => {
    expect((await fetchPage(`${server.origin}/cp1251`, options)).text).toBe('Привет');
    expect((await fetchPage(`${server.origin}/meta-charset`, options)).text).toContain('Привет');
  });

  it('times out on a server that does not answer or stalls mid-body', async () => {
    expect(await fetchError(`${server.origin}/hang`, { timeoutMs: 200 })).toBe('timeout');
    expect(await fetchError(`${server.origin}/slow-body`, { timeoutMs: 200 })).toBe('timeout');
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    expect(await fetchError(`${server.origin}/hang`, { signal: controller.signal })).toBe('aborted');
  });

  it('reports connection failures', async () => {
    const closed = await startLoopbackServer(() => {});
    await closed.close();
    const allowClosed: DestinationPolicy = { allows: ({ port }) => port === closed.port };
    expect(await fetchError(`${closed.origin}/`, { policy: allowClosed })).toBe('network');
  });
});
