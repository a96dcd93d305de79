/**
 * Which network destinations the link fetcher may connect to. Only public unicast addresses are allowed by
 * default: anything that could reach the bot's own host, its private network or a cloud metadata service is
 * refused, including the odd spellings of those addresses that URL parsers and resolvers accept.
 */

export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'shared'
  | 'metadata'
  | 'multicast'
  | 'reserved'
  | 'invalid';

export interface ParsedIp {
  family: 4 | 6;
  bytes: Uint8Array;
}

export interface Destination {
  /** A literal IP address, as resolved (never a host name). */
  address: string;
  port: number;
}

export interface DestinationPolicy {
  allows(destination: Destination): boolean;
}

/**
 * Parses an IP literal the way a WHATWG URL parser reads a host: IPv4 in any of its legacy forms
 * (`0x7f.1`, `2130706433`, `0177.0.0.1`), IPv6 with or without brackets. Host names give null.
 */
export function parseIpAddress(text: string): ParsedIp | null {
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (unbracketed.includes(':')) return parseIpv6(unbracketed);
  let hostname: string;
  try {
    hostname = new URL(`http://${unbracketed}/`).hostname;
  } catch {
    return null;
  }
  return parseDottedQuad(hostname);
}

function parseDottedQuad(text: string): ParsedIp | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^(0|[1-9][0-9]{0,2})$/.test(part))) return null;
  const bytes = parts.map(Number);
  if (bytes.some((byte) => byte > 255)) return null;
  return { family: 4, bytes: Uint8Array.from(bytes) };
}

function parseIpv6(text: string): ParsedIp | null {
  let normalized: string;
  try {
    // The URL parser validates IPv6 and rewrites embedded IPv4 (`::ffff:127.0.0.1`) into hex groups.
    normalized = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
  const [head = '', tail] = normalized.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...tailGroups];
  if (groups.length !== 8) return null;
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    const value = Number.parseInt(group, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 0xff;
  });
  return { family: 6, bytes };
}

interface Range {
  prefix: number[];
  bits: number;
  class: Exclude<AddressClass, 'public' | 'invalid'>;
}

const v4 = (cidr: string, addressClass: Range['class']): Range => {
  const [address = '', bits = ''] = cidr.split('/');
  return { prefix: address.split('.').map(Number), bits: Number(bits), class: addressClass };
};

const v6 = (cidr: string, addressClass: Range['class']): Range => {
  const [address = '', bits = ''] = cidr.split('/');
  const parsed = parseIpv6(address);
  if (parsed === null) throw new Error(`bad IPv6 range ${cidr}`);
  return { prefix: [...parsed.bytes], bits: Number(bits), class: addressClass };
};

/** Most specific ranges first: the first match decides. */
const IPV4_RANGES: Range[] = [
  v4('169.254.169.254/32', 'metadata'),
  v4('100.100.100.200/32', 'metadata'),
  v4('0.0.0.0/8', 'unspecified'),
  v4('10.0.0.0/8', 'private'),
  v4('100.64.0.0/10', 'shared'),
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'link-local'),
  v4('172.16.0.0/12', 'private'),
  v4('192.0.0.0/24', 'reserved'),
  v4('192.0.2.0/24', 'reserved'),
  v4('192.88.99.0/24', 'reserved'),
  v4('192.168.0.0/16', 'private'),
  v4('198.18.0.0/15', 'reserved'),
  v4('198.51.100.0/24', 'reserved'),
  v4('203.0.113.0/24', 'reserved'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved'),
];

const IPV6_RANGES: Range[] = [
  v6('fd00:ec2::254/128', 'metadata'),
  v6('::/128', 'unspecified'),
  v6('::1/128', 'loopback'),
  v6('fc00::/7', 'private'),
  v6('fe80::/10', 'link-local'),
  v6('fec0::/10', 'link-local'),
  v6('ff00::/8', 'multicast'),
  v6('64:ff9b:1::/48', 'private'),
  v6('2001::/32', 'reserved'),
  v6('2001:db8::/32', 'reserved'),
  v6('3fff::/20', 'reserved'),
];

/** IPv6 forms that carry an IPv4 address: the embedded address decides. */
const EMBEDDED_IPV4: { prefix: Range; offset: number }[] = [
  { prefix: v6('::ffff:0:0/96', 'reserved'), offset: 12 },
  { prefix: v6('64:ff9b::/96', 'reserved'), offset: 12 },
  { prefix: v6('2002::/16', 'reserved'), offset: 2 },
];

const GLOBAL_UNICAST_V6 = v6('2000::/3', 'reserved');

function matches(bytes: Uint8Array, range: Range): boolean {
  for (let bit = 0; bit < range.bits; bit += 8) {
    const remaining = Math.min(8, range.bits - bit);
    const mask = (0xff << (8 - remaining)) & 0xff;
    const index = bit / 8;
    if (((bytes[index] ?? 0) & mask) !== ((range.prefix[index] ?? 0) & mask)) return false;
  }
  return true;
}

function classifyBytes(ip: ParsedIp): AddressClass {
  if (ip.family === 4) return IPV4_RANGES.find((range) => matches(ip.bytes, range))?.class ?? 'public';
  const exact = IPV6_RANGES.find((range) => matches(ip.bytes, range));
  if (exact !== undefined) return exact.class;
  for (const { prefix, offset } of EMBEDDED_IPV4) {
    if (matches(ip.bytes, prefix)) {
      return classifyBytes({ family: 4, bytes: ip.bytes.slice(offset, offset + 4) });
    }
  }
  return matches(ip.bytes, GLOBAL_UNICAST_V6) ? 'public' : 'reserved';
}

/** Classifies an IP literal in any spelling `parseIpAddress` accepts; host names are 'invalid'. */
export function classifyAddress(text: string): AddressClass {
  const ip = parseIpAddress(text);
  return ip === null ? 'invalid' : classifyBytes(ip);
}

export const DEFAULT_ALLOWED_PORTS: ReadonlySet<number> = new Set([80, 443, 8080, 8443]);

/** Public unicast addresses on the usual web ports. */
export function publicInternetPolicy(
  allowedPorts: ReadonlySet<number> = DEFAULT_ALLOWED_PORTS,
): DestinationPolicy {
  return {
    allows: ({ address, port }) => allowedPorts.has(port) && classifyAddress(address) === 'public',
  };
}
