import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runs, timeoutFor } from '../../../shared/test/property/support.js';
import {
  classifyAddress,
  DEFAULT_ALLOWED_PORTS,
  type Destination,
  type DestinationPolicy,
  parseIpAddress,
  publicInternetPolicy,
} from '../../src/links/address-policy.js';
import {
  FetchPageError,
  fetchPage,
  type ResolvedAddress,
  type ResolveHost,
} from '../../src/links/fetch-page.js';
import { type LoopbackServer, startLoopbackServer } from '../support/loopback-server.js';

/**
 * The SSRF guard against an independent oracle (ipaddr.js's special-purpose ranges), over addresses drawn
 * from every special range and spelled in every way a WHATWG URL parser reads a host.
 */

// ---- The oracle ----

type Verdict = 'internal' | 'global' | 'special';

/** ipaddr.js range names of addresses a fetch must never reach (own host, private networks, non-unicast). */
const INTERNAL_RANGES = new Set([
  'unspecified',
  'broadcast',
  'multicast',
  'linkLocal',
  'loopback',
  'carrierGradeNat',
  'private',
  'reserved',
  'uniqueLocal',
  'deprecatedSiteLocal',
  'discard',
  'rfc6145',
  'teredo',
  'segmentRouting',
]);

const cidr = (text: string) => ipaddr.parseCIDR(text);
const NAT64_WELL_KNOWN = cidr('64:ff9b::/96');
const IETF_PROTOCOL_ASSIGNMENTS = cidr('2001::/23');
const GLOBAL_UNICAST_V6 = cidr('2000::/3');

/**
 * What the address is according to ipaddr.js. IPv6 forms that carry an IPv4 address are judged by it.
 * 'special': IETF blocks (AS112, AMT, benchmarking, ORCHID) that are neither a private network nor plain
 * unicast; the policy may allow or refuse them.
 */
function oracle(bytes: Uint8Array): Verdict {
  const ip = ipaddr.fromByteArray([...bytes]);
  const range: string = ip.range();
  if (ip.kind() === 'ipv6') {
    if (range === 'ipv4Mapped' || (range === 'rfc6052' && ip.match(NAT64_WELL_KNOWN))) {
      return oracle(bytes.slice(12));
    }
    if (range === '6to4') return oracle(bytes.slice(2, 6));
    // ipaddr.js calls every address it has no name for unicast; only 2000::/3 is allocated as such.
    if (range === 'unicast') return ip.match(GLOBAL_UNICAST_V6) ? 'global' : 'internal';
    if (range === 'reserved' && ip.match(IETF_PROTOCOL_ASSIGNMENTS)) return 'special';
    if (range === 'rfc6052') return 'internal'; // 64:ff9b:1::/48, local-use translation
  }
  if (INTERNAL_RANGES.has(range)) return 'internal';
  return range === 'unicast' ? 'global' : 'special';
}

// ---- Addresses ----

/** A random address inside a CIDR block. */
function inBlock(block: string): fc.Arbitrary<Uint8Array> {
  const [base, bits] = cidr(block);
  const prefix = base.toByteArray();
  return fc.uint8Array({ minLength: prefix.length, maxLength: prefix.length }).map((random) =>
    Uint8Array.from(prefix, (byte, i) => {
      const fixed = Math.min(8, Math.max(0, bits - 8 * i));
      const mask = (0xff << (8 - fixed)) & 0xff;
      return (byte & mask) | ((random[i] as number) & ~mask & 0xff);
    }),
  );
}

const SPECIAL_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '100.100.100.200/32',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '169.254.169.254/32',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '255.255.255.255/32',
  // Around the edges of the ranges above, and the AS112/AMT blocks.
  '100.0.0.0/8',
  '172.0.0.0/8',
  '192.0.0.0/8',
  '198.0.0.0/8',
  '169.0.0.0/8',
  '223.0.0.0/8',
];

const v4Bytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }),
  ...SPECIAL_V4.map(inBlock),
);

const SPECIAL_V6 = [
  '::/128',
  '::1/128',
  '::/96',
  '::ffff:0:0:0/96',
  '64:ff9b:1::/48',
  '100::/64',
  '2001::/23',
  '2001::/32',
  '2001:db8::/32',
  '3fff::/20',
  '5f00::/16',
  'fc00::/7',
  'fd00:ec2::254/128',
  'fe80::/10',
  'fec0::/10',
  'ff00::/8',
  '2000::/3',
];

/** IPv6 forms that carry an IPv4 address, with its offset. */
const EMBEDDING_V6: [string, number][] = [
  ['::ffff:0:0/96', 12],
  ['64:ff9b::/96', 12],
  ['::/96', 12],
  ['2002::/16', 2],
];

const v6Bytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  ...SPECIAL_V6.map(inBlock),
  ...EMBEDDING_V6.map(([block, offset]) =>
    fc.tuple(inBlock(block), v4Bytes).map(([outer, inner]) => {
      const bytes = Uint8Array.from(outer);
      bytes.set(inner, offset);
      return bytes;
    }),
  ),
);

const addressBytes = fc.oneof(v4Bytes, v6Bytes);
const internalBytes = addressBytes.filter((bytes) => oracle(bytes) === 'internal');
const globalBytes = addressBytes.filter((bytes) => oracle(bytes) === 'global');

const canonical = (bytes: Uint8Array): string => ipaddr.fromByteArray([...bytes]).toString();

// ---- Spellings ----

type Radix = 'dec' | 'oct' | 'hex' | 'HEX';

interface V4Spelling {
  parts: number;
  radixes: Radix[];
  zeros: number[];
  trailingDot: boolean;
}

const v4Spelling: fc.Arbitrary<V4Spelling> = fc.record({
  parts: fc.integer({ min: 1, max: 4 }),
  radixes: fc.array(fc.constantFrom<Radix>('dec', 'oct', 'hex', 'HEX'), { minLength: 4, maxLength: 4 }),
  zeros: fc.array(fc.nat(3), { minLength: 4, maxLength: 4 }),
  trailingDot: fc.boolean(),
});

/** `127.1`, `0x7f.0.1`, `017700000001`, `2130706433.` and the rest of what the URL parser reads as IPv4. */
function spellV4(bytes: Uint8Array, { parts, radixes, zeros, trailingDot }: V4Spelling): string {
  const numbers = [...bytes.subarray(0, parts - 1)];
  numbers.push(bytes.subarray(parts - 1).reduce((value, byte) => value * 256 + byte, 0));
  const spelled = numbers.map((value, i) => {
    const padding = '0'.repeat(zeros[i] ?? 0);
    switch (radixes[i]) {
      case 'oct':
        return `0${padding}${value.toString(8)}`;
      case 'hex':
        return `0x${padding}${value.toString(16)}`;
      case 'HEX':
        return `0X${padding}${value.toString(16).toUpperCase()}`;
      default:
        return String(value);
    }
  });
  return `${spelled.join('.')}${trailingDot ? '.' : ''}`;
}

interface V6Spelling {
  compress: 'none' | 'longest' | 'first';
  upper: boolean;
  pad: boolean;
  dottedTail: boolean;
}

const v6Spelling: fc.Arbitrary<V6Spelling> = fc.record({
  compress: fc.constantFrom('none', 'longest', 'first'),
  upper: fc.boolean(),
  pad: fc.boolean(),
  dottedTail: fc.boolean(),
});

/** Full, padded, compressed at any zero run, upper case, or with the last 32 bits as a dotted quad. */
function spellV6(bytes: Uint8Array, { compress, upper, pad, dottedTail }: V6Spelling): string {
  const groups = Array.from(
    { length: 8 },
    (_, i) => ((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number),
  );
  let words = groups.map((group) => (pad ? group.toString(16).padStart(4, '0') : group.toString(16)));
  if (dottedTail) words = [...words.slice(0, 6), [...bytes.subarray(12)].join('.'), ''].slice(0, 7);
  const zeroRuns: [number, number][] = [];
  for (let i = 0; i < words.length; i++) {
    if (groups[i] !== 0 || (dottedTail && i === 6)) continue;
    const start = i;
    while (i < words.length && groups[i] === 0 && !(dottedTail && i === 6)) i++;
    zeroRuns.push([start, i]);
  }
  const run =
    compress === 'none'
      ? undefined
      : compress === 'first'
        ? zeroRuns[0]
        : zeroRuns.reduce<[number, number] | undefined>(
            (best, r) => (best === undefined || r[1] - r[0] > best[1] - best[0] ? r : best),
            undefined,
          );
  const text =
    run === undefined
      ? words.join(':')
      : `${words.slice(0, run[0]).join(':')}::${words.slice(run[1]).join(':')}`;
  return upper ? text.toUpperCase() : text;
}

const FULLWIDTH_ZERO = 0xff10;

interface HostDisguise {
  fullwidth: boolean;
  ideographicDots: boolean;
  percentEncode: boolean[];
}

const hostDisguise: fc.Arbitrary<HostDisguise> = fc.record({
  fullwidth: fc.boolean(),
  ideographicDots: fc.boolean(),
  percentEncode: fc.array(fc.boolean(), { maxLength: 40 }),
});

/** What a domain-shaped host may look like and still read the same: IDNA-mapped digits, dots, %-escapes. */
function disguise(host: string, { fullwidth, ideographicDots, percentEncode }: HostDisguise): string {
  return [...host]
    .map((char, i) => {
      if (percentEncode[i] === true) return `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`;
      if (fullwidth && /[0-9]/.test(char)) return String.fromCharCode(FULLWIDTH_ZERO + Number(char));
      if (ideographicDots && char === '.') return '\u3002';
      return char;
    })
    .join('');
}

/** A host spelling of the address as it goes into a URL. */
const hostFor = (bytes: Uint8Array): fc.Arbitrary<string> =>
  bytes.length === 4
    ? fc.tuple(v4Spelling, hostDisguise).map(([spelling, looks]) => disguise(spellV4(bytes, spelling), looks))
    : v6Spelling.map((spelling) => `[${spellV6(bytes, spelling)}]`);

interface UrlParts {
  scheme: 'http' | 'https';
  userinfo: string | undefined;
  port: number | undefined;
  rest: string;
}

const urlParts = (ports: fc.Arbitrary<number | undefined>): fc.Arbitrary<UrlParts> =>
  fc.record({
    scheme: fc.constantFrom('http' as const, 'https' as const),
    userinfo: fc.option(fc.constantFrom('user', 'user:pass', 'example.com', '8.8.8.8', ':@', 'a%40b'), {
      nil: undefined,
    }),
    port: ports,
    rest: fc.oneof(
      fc.constant('/'),
      fc.webPath().map((path) => `/${path.replace(/^\/+/, '')}`),
      fc.webFragments().map((f) => `/#${f}`),
    ),
  });

const allowedPort = fc.option(fc.constantFrom(...DEFAULT_ALLOWED_PORTS), { nil: undefined });
const anyPort = fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined });

const urlOf = (host: string, { scheme, userinfo, port, rest }: UrlParts): string =>
  `${scheme}://${userinfo === undefined ? '' : `${userinfo}@`}${host}${port === undefined ? '' : `:${port}`}${rest}`;

/** A URL to an address in any spelling, with its bytes. */
const literalUrl = (bytes: fc.Arbitrary<Uint8Array>, ports: fc.Arbitrary<number | undefined>) =>
  bytes.chain((address) =>
    fc
      .tuple(hostFor(address), urlParts(ports))
      .map(([host, parts]) => ({ address, parts, url: urlOf(host, parts) })),
  );

// ---- The fetcher, stopped at the policy ----

/** Thrown by the spying policy once the default policy allowed every destination, so nothing is connected. */
class Allowed extends Error {
  constructor(readonly destination: Destination) {
    super(`allowed ${destination.address}:${destination.port}`);
  }
}

/**
 * The default policy, stopping the fetch where it would connect: after `destinations` were allowed. An
 * `exempt` destination (the loopback server of the redirect test) is let through without counting.
 */
function stopWhenAllowed(destinations: number, exempt?: Destination): DestinationPolicy {
  let allowed = 0;
  return {
    allows(destination) {
      if (exempt?.address === destination.address && exempt.port === destination.port) return true;
      const allows = publicInternetPolicy().allows(destination);
      if (allows && ++allowed === destinations) throw new Allowed(destination);
      return allows;
    },
  };
}

const noResolution: ResolveHost = async (hostname) => {
  throw new Error(`an IP literal was resolved: ${hostname}`);
};

async function fetchOutcome(
  url: string,
  { resolved, exempt }: { resolved?: ResolvedAddress[]; exempt?: Destination } = {},
): Promise<{ code: string; allowed?: Destination }> {
  const resolve: ResolveHost = resolved === undefined ? noResolution : async () => resolved;
  const policy = stopWhenAllowed(resolved?.length ?? 1, exempt);
  try {
    await fetchPage(url, { policy, resolve, timeoutMs: 5_000 });
  } catch (error) {
    if (!(error instanceof FetchPageError)) throw error;
    return error.cause instanceof Allowed
      ? { code: error.code, allowed: error.cause.destination }
      : { code: error.code };
  }
  throw new Error(`${url} was fetched`);
}

const sameBytes = (text: string, bytes: Uint8Array) => expect(parseIpAddress(text)?.bytes).toEqual(bytes);

/** Refused before any connection: for its address or port, or (with a user name) for the URL itself. */
async function expectRefused({ url, parts }: { url: string; parts: UrlParts }, start = url): Promise<void> {
  const outcome = await fetchOutcome(start, { exempt: redirector });
  expect(outcome.allowed, url).toBeUndefined();
  expect(outcome.code, url).toBe(parts.userinfo === undefined ? 'refused-address' : 'invalid-url');
}

/** Where the redirect test's loopback server listens; the policy lets the fetch reach it and nothing else. */
let redirector: Destination | undefined;

describe('the SSRF guard', () => {
  let server: LoopbackServer;

  beforeAll(async () => {
    // Redirects to the URL in its query: a public page sending the fetcher on to an internal address.
    server = await startLoopbackServer((request, response) => {
      const to = new URL(request.url ?? '/', 'http://redirector').searchParams.get('to') ?? '/';
      // A header carries ASCII only: other characters go percent-encoded, as servers send them.
      const location = to.replace(/[^\x21-\x7e]/gu, (char) => encodeURIComponent(char));
      response.writeHead(302, { location }).end();
    });
    redirector = { address: '127.0.0.1', port: server.port };
  });

  afterAll(() => server.close());

  it(
    'refuses every address the oracle calls internal and allows every one it calls global unicast',
    () => {
      fc.assert(
        fc.property(addressBytes, (bytes) => {
          const verdict = oracle(bytes);
          fc.pre(verdict !== 'special');
          const text = canonical(bytes);
          sameBytes(text, bytes);
          const allowed = publicInternetPolicy().allows({ address: text, port: 443 });
          expect(allowed, `${text} (${classifyAddress(text)}) is ${verdict}`).toBe(verdict === 'global');
        }),
        runs(2000),
      );
    },
    timeoutFor(1),
  );

  it(
    'reads an address the same in every spelling a URL parser accepts',
    () => {
      fc.assert(
        fc.property(
          addressBytes.chain((bytes) => fc.tuple(fc.constant(bytes), hostFor(bytes))),
          ([bytes, host]) => {
            expect(classifyAddress(host), host).toBe(classifyAddress(canonical(bytes)));
            const { hostname } = new URL(`http://${host}/`);
            sameBytes(hostname, bytes);
          },
        ),
        runs(1000),
      );
    },
    timeoutFor(1),
  );

  it(
    'refuses a link to an internal address in any spelling, with any port, user name or path',
    async () => {
      await fc.assert(
        fc.asyncProperty(literalUrl(internalBytes, anyPort), (target) => expectRefused(target)),
        runs(500),
      );
    },
    timeoutFor(2),
  );

  it(
    'refuses a redirect to an internal address in any spelling',
    async () => {
      await fc.assert(
        fc.asyncProperty(literalUrl(internalBytes, anyPort), async (target) => {
          const { hostname, port } = new URL(target.url);
          fc.pre(!(hostname === '127.0.0.1' && Number(port) === server.port));
          const served = server.hosts.length;
          await expectRefused(target, `${server.origin}/?to=${encodeURIComponent(target.url)}`);
          expect(server.hosts.length, 'the redirecting server was asked').toBe(served + 1);
        }),
        runs(200),
      );
    },
    timeoutFor(5),
  );

  it(
    'lets a link to a global address on a web port through to exactly that address',
    async () => {
      const plain = literalUrl(globalBytes, allowedPort).filter(({ parts }) => parts.userinfo === undefined);
      await fc.assert(
        fc.asyncProperty(plain, async ({ url, address, parts }) => {
          const { allowed } = await fetchOutcome(url);
          expect(allowed, url).toBeDefined();
          sameBytes((allowed as Destination).address, address);
          expect((allowed as Destination).port).toBe(parts.port ?? (parts.scheme === 'https' ? 443 : 80));
        }),
        runs(300),
      );
    },
    timeoutFor(2),
  );

  it(
    'refuses a global address on any other port',
    async () => {
      const otherPort = fc
        .integer({ min: 1, max: 65_535 })
        .filter((port) => !DEFAULT_ALLOWED_PORTS.has(port));
      await fc.assert(
        fc.asyncProperty(literalUrl(globalBytes, otherPort), (target) => expectRefused(target)),
        runs(200),
      );
    },
    timeoutFor(2),
  );

  it(
    'refuses a host name when any address it resolves to is internal',
    async () => {
      const answers = fc
        .tuple(
          fc.array(globalBytes, { maxLength: 3 }),
          fc.array(internalBytes, { minLength: 1, maxLength: 3 }),
          fc.nat(),
        )
        .map(([good, bad, at]) => {
          const all = [...good];
          all.splice(at % (all.length + 1), 0, ...bad);
          return all.map(
            (bytes): ResolvedAddress => ({ address: canonical(bytes), family: bytes.length === 4 ? 4 : 6 }),
          );
        });
      await fc.assert(
        fc.asyncProperty(fc.domain(), answers, urlParts(allowedPort), async (domain, addresses, parts) => {
          fc.pre(parseIpAddress(domain) === null);
          const url = urlOf(domain, { ...parts, userinfo: undefined });
          const outcome = await fetchOutcome(url, { resolved: addresses });
          expect(outcome.allowed, url).toBeUndefined();
          expect(outcome.code, url).toBe('refused-address');
        }),
        runs(200),
      );
    },
    timeoutFor(2),
  );
});
