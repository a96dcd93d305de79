import { describe, expect, it } from 'vitest';
import {
  type AddressClass,
  classifyAddress,
  parseIpAddress,
  publicInternetPolicy,
} from '../../src/links/address-policy.js';

describe('classifyAddress', () => {
  const table: [string, AddressClass][] = [
    // Loopback in every spelling URL parsers and inet_aton accept.
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['2130706433', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['2002:7f00:1::', 'loopback'],
    // Unspecified.
    ['0.0.0.0', 'unspecified'],
    ['0', 'unspecified'],
    ['::', 'unspecified'],
    ['::ffff:0.0.0.0', 'unspecified'],
    // Private networks.
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['::ffff:192.168.1.1', 'private'],
    ['::ffff:c0a8:101', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    // Link-local, CGNAT, multicast.
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['[fe80::abcd]', 'link-local'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    // Cloud metadata services.
    ['169.254.169.254', 'metadata'],
    ['0xa9fea9fe', 'metadata'],
    ['2852039166', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    // Reserved and documentation ranges.
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001:0:4136:e378::1', 'reserved'],
    ['::7f00:1', 'reserved'],
    // Public addresses.
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['[2a00:1450:4001:80b::200e]', 'public'],
    // Not IP literals.
    ['localhost', 'invalid'],
    ['localhost.', 'invalid'],
    ['example.com', 'invalid'],
    ['1.2.3.4.5', 'invalid'],
    ['256.1.1.1', 'invalid'],
    ['fe80::1%eth0', 'invalid'],
    ['', 'invalid'],
  ];

  it.each(table)('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });
});

describe('parseIpAddress', () => {
  it('reads IPv4 legacy forms into the same four bytes', () => {
    for (const form of ['127.0.0.1', '0x7f.1', '2130706433', '0177.0.0.1', '127.0.1']) {
      expect([...(parseIpAddress(form)?.bytes ?? [])], form).toEqual([127, 0, 0, 1]);
    }
  });

  it('expands compressed IPv6', () => {
    const parsed = parseIpAddress('2001:db8::ff00:42:8329');
    expect(parsed?.family).toBe(6);
    expect(Buffer.from(parsed?.bytes ?? []).toString('hex')).toBe('20010db8000000000000ff0000428329');
  });
});

describe('publicInternetPolicy', () => {
  const policy = publicInternetPolicy();

  it('allows public addresses on web ports only', () => {
    expect(policy.allows({ address: '93.184.215.14', port: 443 })).toBe(true);
    expect(policy.allows({ address: '93.184.215.14', port: 80 })).toBe(true);
    expect(policy.allows({ address: '93.184.215.14', port: 22 })).toBe(false);
    expect(policy.allows({ address: '93.184.215.14', port: 6379 })).toBe(false);
  });

  it('refuses non-public addresses on any port', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '169.254.169.254', '::1', 'fd00:ec2::254', 'localhost']) {
      expect(policy.allows({ address, port: 443 }), address).toBe(false);
    }
  });

  it('takes its own port list', () => {
    expect(publicInternetPolicy(new Set([8000])).allows({ address: '8.8.8.8', port: 8000 })).toBe(true);
    expect(publicInternetPolicy(new Set([8000])).allows({ address: '8.8.8.8', port: 443 })).toBe(false);
  });
});
