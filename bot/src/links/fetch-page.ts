import { lookup as systemLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { pipeline, type Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { type DestinationPolicy, parseIpAddress, publicInternetPolicy } from './address-policy.js';

/**
 * Fetches a web page a user linked to, without letting the link reach anything but the public internet:
 * every address a host resolves to is checked, the connection goes to the checked address (no second
 * resolution, so no DNS rebinding), and each redirect hop is checked again.
 */

export type FetchPageErrorCode =
  | 'invalid-url'
  | 'unsupported-scheme'
  | 'dns-failed'
  | 'refused-address'
  | 'too-many-redirects'
  | 'http-status'
  | 'unsupported-content-type'
  | 'invalid-body'
  | 'timeout'
  | 'aborted'
  | 'network';

export class FetchPageError extends Error {
  override readonly name = 'FetchPageError';
  constructor(
    readonly code: FetchPageErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
  }
  /** The HTTP status, for 'http-status'. */
  readonly status: number | undefined;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type ResolveHost = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolve: ResolveHost = async (hostname) => {
  const addresses = await systemLookup(hostname, { all: true, verbatim: true });
  return addresses.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
};

export const PAGE_CONTENT_TYPES = ['text/html', 'application/xhtml+xml', 'text/plain'] as const;
export type PageContentType = (typeof PAGE_CONTENT_TYPES)[number];

export interface FetchPageOptions {
  /** Which resolved addresses and ports may be connected to; public internet on web ports by default. */
  policy?: DestinationPolicy;
  resolve?: ResolveHost;
  /** The body is cut after this many (decoded) bytes. */
  maxBytes?: number;
  /** For the whole fetch: every hop, the resolution and the body. */
  timeoutMs?: number;
  maxRedirects?: number;
  signal?: AbortSignal;
  userAgent?: string;
  /** Certificate authorities to trust for https instead of Node's bundled ones (a private CA, or tests). */
  ca?: string | Buffer;
}

export interface FetchedPage {
  /** The URL the page was finally served from, after redirects. */
  url: string;
  /** Every URL requested, the first one included. */
  hops: string[];
  status: number;
  contentType: PageContentType;
  text: string;
  /** True when the body was longer than maxBytes and was cut. */
  truncated: boolean;
}

export const FETCH_PAGE_DEFAULTS = {
  maxBytes: 2 * 1024 * 1024,
  timeoutMs: 10_000,
  maxRedirects: 5,
  userAgent: 'CocoonSummaryBot/0.1 (+https://t.me)',
};

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export async function fetchPage(link: string, options: FetchPageOptions = {}): Promise<FetchedPage> {
  const policy = options.policy ?? publicInternetPolicy();
  const resolve = options.resolve ?? systemResolve;
  const maxBytes = options.maxBytes ?? FETCH_PAGE_DEFAULTS.maxBytes;
  const maxRedirects = options.maxRedirects ?? FETCH_PAGE_DEFAULTS.maxRedirects;
  const deadline = AbortSignal.timeout(options.timeoutMs ?? FETCH_PAGE_DEFAULTS.timeoutMs);
  const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
  const userAgent = options.userAgent ?? FETCH_PAGE_DEFAULTS.userAgent;

  const hops: string[] = [];
  let url = parseLink(link);
  try {
    for (;;) {
      hops.push(url.href);
      const destination = await pickDestination(url, policy, resolve, signal);
      const response = await request(url, destination, { userAgent, signal, ca: options.ca });
      const status = response.statusCode ?? 0;
      if (REDIRECT_STATUSES.has(status)) {
        response.destroy();
        if (hops.length > maxRedirects) {
          throw new FetchPageError('too-many-redirects', `more than ${maxRedirects} redirects`);
        }
        url = redirectTarget(url, response.headers.location);
        continue;
      }
      if (status < 200 || status > 299) {
        response.destroy();
        throw new FetchPageError('http-status', `${url.host} answered HTTP ${status}`, { status });
      }
      const contentType = parseContentType(response.headers['content-type']);
      if (contentType === null) {
        response.destroy();
        throw new FetchPageError(
          'unsupported-content-type',
          `${url.host} sent ${response.headers['content-type'] ?? 'no content type'}, not a web page or text`,
        );
      }
      const body = await readBody(response, maxBytes, signal);
      const text = decode(body.bytes, contentType.charset, contentType.type);
      return { url: url.href, hops, status, contentType: contentType.type, text, truncated: body.truncated };
    }
  } catch (error) {
    if (error instanceof FetchPageError) throw error;
    if (deadline.aborted) {
      throw new FetchPageError('timeout', 'the page took too long to load', { cause: error });
    }
    if (signal.aborted) throw new FetchPageError('aborted', 'the fetch was cancelled', { cause: error });
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new FetchPageError('network', `could not load the page from ${url.host} (${code})`, {
      cause: error,
    });
  }
}

function parseLink(link: string): URL {
  let url: URL;
  try {
    url = new URL(link.trim());
  } catch (error) {
    throw new FetchPageError('invalid-url', 'not a valid URL', { cause: error });
  }
  return checkUrl(url);
}

function checkUrl(url: URL): URL {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FetchPageError(
      'unsupported-scheme',
      `only http and https links are fetched, not ${url.protocol}`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new FetchPageError('invalid-url', 'links with a user name or password are not fetched');
  }
  return url;
}

function redirectTarget(from: URL, location: string | undefined): URL {
  if (location === undefined) {
    throw new FetchPageError('invalid-url', `${from.host} sent a redirect without a Location`);
  }
  let target: URL;
  try {
    target = new URL(location, from);
  } catch (error) {
    throw new FetchPageError('invalid-url', `${from.host} redirected to an invalid URL`, { cause: error });
  }
  return checkUrl(target);
}

const portOf = (url: URL): number =>
  url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;

const unbracket = (hostname: string): string =>
  hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;

/** Resolves the host and checks every address it has: one refused address refuses the host. */
async function pickDestination(
  url: URL,
  policy: DestinationPolicy,
  resolve: ResolveHost,
  signal: AbortSignal,
): Promise<ResolvedAddress> {
  const hostname = unbracket(url.hostname);
  const port = portOf(url);
  const literal = parseIpAddress(hostname);
  let addresses: ResolvedAddress[];
  if (literal !== null) {
    addresses = [{ address: hostname, family: literal.family }];
  } else {
    try {
      addresses = await abortable(resolve(hostname), signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new FetchPageError('dns-failed', `could not resolve ${hostname}`, { cause: error });
    }
    if (addresses.length === 0) throw new FetchPageError('dns-failed', `${hostname} has no addresses`);
  }
  for (const { address } of addresses) {
    if (!policy.allows({ address, port })) {
      throw new FetchPageError(
        'refused-address',
        `${url.host} leads to an address that is not on the public internet or a port that is not fetched`,
      );
    }
  }
  // Non-null: checked above that there is at least one address.
  return addresses[0] as ResolvedAddress;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function request(
  url: URL,
  destination: ResolvedAddress,
  { userAgent, signal, ca }: { userAgent: string; signal: AbortSignal; ca: string | Buffer | undefined },
): Promise<http.IncomingMessage> {
  // The socket connects to the address checked above, whatever the resolver would say now.
  const pinnedLookup: LookupFunction = (_hostname, lookupOptions, callback) => {
    if (lookupOptions.all) callback(null, [destination]);
    else callback(null, destination.address, destination.family);
  };
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = transport.request(
      {
        protocol: url.protocol,
        hostname: unbracket(url.hostname),
        port: portOf(url),
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        agent: false,
        lookup: pinnedLookup,
        signal,
        // The certificate is checked against the host name of the URL, not the pinned address.
        ...(ca === undefined ? {} : { ca }),
        headers: {
          'user-agent': userAgent,
          accept: 'text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8',
          'accept-encoding': 'gzip, deflate, br',
        },
      },
      resolve,
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}

function parseContentType(header: string | undefined): { type: PageContentType; charset?: string } | null {
  if (header === undefined) return null;
  const [essence = '', ...parameters] = header.split(';');
  const type = PAGE_CONTENT_TYPES.find((allowed) => allowed === essence.trim().toLowerCase());
  if (type === undefined) return null;
  const charset = parameters
    .map((parameter) => parameter.trim().match(/^charset\s*=\s*"?([^";\s]+)"?$/i)?.[1])
    .find((value) => value !== undefined);
  return charset === undefined ? { type } : { type, charset };
}

function decoderFor(encoding: string | undefined): Transform | null {
  switch ((encoding ?? 'identity').trim().toLowerCase()) {
    case 'identity':
    case '':
      return null;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      throw new FetchPageError('invalid-body', `the page uses an unsupported encoding (${encoding})`);
  }
}

/** Reads at most maxBytes of the decoded body and stops the download there (a guard against huge or bomb bodies). */
async function readBody(
  response: http.IncomingMessage,
  maxBytes: number,
  signal: AbortSignal,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const stopOnAbort = () => response.destroy(signal.reason);
  signal.addEventListener('abort', stopOnAbort, { once: true });
  let decoder: Transform | null;
  try {
    decoder = decoderFor(response.headers['content-encoding']);
  } catch (error) {
    response.destroy();
    throw error;
  }
  const body: Readable = decoder === null ? response : pipeline(response, decoder, () => {});
  const chunks: Uint8Array[] = [];
  let length = 0;
  let truncated = false;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (length + chunk.length > maxBytes) {
        chunks.push(chunk.subarray(0, maxBytes - length));
        length = maxBytes;
        truncated = true;
        break;
      }
      chunks.push(chunk);
      length += chunk.length;
    }
  } catch (error) {
    if (isDecompressionError(error)) {
      throw new FetchPageError('invalid-body', 'the page body could not be decompressed', { cause: error });
    }
    throw error;
  } finally {
    signal.removeEventListener('abort', stopOnAbort);
    response.destroy();
  }
  return { bytes: Buffer.concat(chunks, length), truncated };
}

/** zlib reports Z_* codes, brotli ERR__ERROR_* codes; socket errors have neither. */
function isDecompressionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return code.startsWith('Z_') || code.startsWith('ERR__ERROR');
}

function sniffCharset(bytes: Uint8Array): string | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return 'utf-8';
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 1024));
  return head.match(/<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)/i)?.[1];
}

function decode(bytes: Uint8Array, declared: string | undefined, type: PageContentType): string {
  const label = declared ?? (type === 'text/plain' ? undefined : sniffCharset(bytes)) ?? 'utf-8';
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label);
  } catch {
    decoder = new TextDecoder('utf-8');
  }
  return decoder.decode(bytes);
}
