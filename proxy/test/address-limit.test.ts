import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNetwork } from '../src/rate-limit.js';
import { type Harness, openTestStore, startHarness } from './support/harness.js';

const BURST = 3;

/** A request as node:http gives it, from `peer`, with an X-Forwarded-For header when given. */
const request = (peer: string, forwardedFor?: string) =>
  ({
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
    socket: { remoteAddress: peer },
  }) as unknown as IncomingMessage;

describe('requestNetwork', () => {
  it('is the IPv4 address, or the IPv6 /64, of the peer; a loopback peer is not limited', () => {
    expect(requestNetwork(request('203.0.113.7'), false)).toBe('203.0.113.7');
    expect(requestNetwork(request('::ffff:203.0.113.7'), false)).toBe('203.0.113.7');
    expect(requestNetwork(request('2001:db8:1:2::1'), false)).toBe('2001:db8:1:2::/64');
    expect(requestNetwork(request('2001:db8:1:2:ffff:0:0:9'), false)).toBe('2001:db8:1:2::/64');
    expect(requestNetwork(request('2001:db8:1:3::1'), false)).toBe('2001:db8:1:3::/64');
    expect(requestNetwork(request('127.0.0.1'), false)).toBeUndefined();
    expect(requestNetwork(request('::1'), false)).toBeUndefined();
    // Without trust, a forwarded address is whatever the client wrote: ignored.
    expect(requestNetwork(request('203.0.113.7', '198.51.100.1'), false)).toBe('203.0.113.7');
  });

  it('behind a trusted reverse proxy, is the address it appended last; an unreadable one counts as one', () => {
    expect(requestNetwork(request('127.0.0.1', '198.51.100.1'), true)).toBe('198.51.100.1');
    // The client may send its own X-Forwarded-For: the reverse proxy appends the real peer after it.
    expect(requestNetwork(request('127.0.0.1', '10.9.9.9, 198.51.100.2'), true)).toBe('198.51.100.2');
    expect(requestNetwork(request('127.0.0.1'), true)).toBe('127.0.0.1');
    expect(requestNetwork(request('127.0.0.1', 'not-an-address'), true)).toBe('unknown');
    // with the port some reverse proxies append
    expect(requestNetwork(request('127.0.0.1', '198.51.100.3:51234'), true)).toBe('198.51.100.3');
    expect(requestNetwork(request('127.0.0.1', '[2001:db8:9:9::5]:443'), true)).toBe('2001:db8:9:9::/64');
  });
});

describe('the client API behind a reverse proxy', () => {
  let testStore: Awaited<ReturnType<typeof openTestStore>>;
  let harness: Harness;
  beforeAll(async () => {
    testStore = await openTestStore();
    harness = await startHarness(testStore.store, {
      limits: { trustForwardedFor: true, addressBurst: BURST, addressRatePerSecond: 0.001 },
    });
  });
  afterAll(async () => {
    await harness?.close();
    await testStore?.remove();
  });

  const models = (forwardedFor: string) =>
    fetch(`${harness.proxy.url}/v1/models`, { headers: { 'x-forwarded-for': forwardedFor } });

  it('refuses a network past its rate with 429 and Retry-After, counted, while other networks go on', async () => {
    for (let i = 0; i < BURST; i++) expect((await models(`2001:db8:7:7::${i + 1}`)).status).toBe(200);
    const refused = await models('2001:db8:7:7::ffff');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await refused.json()).error).toMatchObject({ code: 'rate_limited' });
    expect((await models('2001:db8:7:8::1')).status).toBe(200);
    expect((await models('203.0.113.9')).status).toBe(200);
    // Health and metrics are not the client API: never limited.
    for (let i = 0; i < BURST + 1; i++) {
      expect(
        (await fetch(`${harness.proxy.url}/healthz`, { headers: { 'x-forwarded-for': '2001:db8:7:7::1' } }))
          .status,
      ).toBe(200);
    }
    const metrics = await (await fetch(`${harness.proxy.url}/metrics`)).text();
    expect(metrics).toMatch(/^cocoon_proxy_refusals_total\{reason="address_rate_limited"\} 1$/m);
  });
});
