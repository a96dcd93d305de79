import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '@cocoon/shared';
import { signInitData } from '@cocoon/shared/protocol/app-api';
import { afterEach, describe, expect, it } from 'vitest';
import { type AppServerOptions, createAppServer } from '../../src/app/index.js';
import { mayReadMetrics, TelegramMetrics } from '../../src/metrics.js';
import { MetricsProbe, samplesOf, scrape } from '../support/metrics.js';
import { createDemo, DEMO_USER } from './demo.js';

const BOT_TOKEN = '123456:TEST-token-for-the-app-server';
const METRICS_TOKEN = 'scraper-token-of-sixteen-or-more';
const NOW = 1_790_000_000;
const REFUSALS = 'cocoon_bot_refusals_total';

let server: Server | undefined;
afterEach(async () => {
  const running = server;
  server = undefined;
  running?.closeAllConnections();
  if (running !== undefined) await new Promise((resolve) => running.close(resolve));
});

async function start(
  overrides: Partial<AppServerOptions> = {},
): Promise<{ base: string; probe: MetricsProbe }> {
  const demo = await createDemo(NOW);
  const app = createAppServer({
    ...demo.options,
    botToken: BOT_TOKEN,
    publicUrl: 'https://app.example.org',
    clock: new ManualClock(NOW * 1000),
    metricsToken: METRICS_TOKEN,
    ...overrides,
  });
  server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, probe: await new MetricsProbe(base).start() };
}

const initData = (authDate = NOW - 60, token = BOT_TOKEN) =>
  signInitData({ auth_date: String(authDate), user: JSON.stringify(DEMO_USER) }, token);

function call(
  base: string,
  path: string,
  init: { auth?: string | null; body?: string; method?: string } = {},
) {
  return fetch(`${base}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(init.auth === null ? {} : { authorization: `tma ${init.auth ?? initData()}` }),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: init.body }),
    signal: AbortSignal.timeout(10_000),
  });
}

describe('refusals of the app API, counted by reason', () => {
  it.each([
    ['no initData', { auth: null }, 401, 'init_data_missing'],
    ['forged initData', { auth: initData(NOW - 60, '999:another-bot') }, 401, 'init_data_invalid'],
    ['expired initData', { auth: initData(NOW - 2 * 86_400) }, 401, 'init_data_expired'],
    ['an invalid body', { body: JSON.stringify({ amount: '-5' }) }, 400, 'bad_request'],
    ['unparsable JSON', { body: '{"amount":' }, 400, 'bad_request'],
    [
      'a body over 16 kB',
      { body: JSON.stringify({ amount: '1', pad: 'x'.repeat(20_000) }) },
      413,
      'too_large',
    ],
  ] as const)('counts %s once, and a good request not at all', async (_name, init, status, reason) => {
    const { base, probe } = await start();
    const refused = await call(base, '/api/topups', init);
    expect(refused.status).toBe(status);
    expect(await probe.changes(REFUSALS)).toEqual({ [`${REFUSALS}{reason="${reason}"}`]: 1 });

    const good = await call(base, '/api/topups', { body: JSON.stringify({ amount: '1000000000' }) });
    expect(good.status).toBe(201);
    expect(await probe.changes(REFUSALS)).toEqual({});
  });

  it('counts each request over the rate limit', async () => {
    const { base, probe } = await start({ rateLimit: { windowMs: 60_000, limit: 2 } });
    for (let i = 0; i < 2; i++) expect((await call(base, '/api/me')).status).toBe(200);
    expect(await probe.changes(REFUSALS)).toEqual({});
    for (let i = 0; i < 3; i++) expect((await call(base, '/api/me')).status).toBe(429);
    expect(await probe.changes(REFUSALS)).toEqual({ [`${REFUSALS}{reason="rate_limited"}`]: 3 });
  });

  it('tells a forged initData from an expired one no more than the 401 did before', async () => {
    const { base } = await start();
    const forged = await call(base, '/api/me', { auth: initData(NOW - 60, '999:another-bot') });
    expect(await forged.json()).toEqual({
      error: { code: 'init_data_hash_mismatch', message: expect.any(String) },
    });
  });
});

describe('GET /metrics', () => {
  it('answers a direct loopback scrape and the right bearer token, and 404 to the rest', async () => {
    const { base } = await start();
    const direct = await scrape(base);
    expect(direct.status).toBe(200);
    expect(direct.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await direct.text();
    expect(text).toContain('# TYPE cocoon_bot_refusals_total counter');
    expect(text).toContain('cocoon_bot_refusals_total{reason="ssrf_refused"} 0');
    expect(text).toContain('cocoon_bot_process_cpu_seconds_total');

    expect((await scrape(base, { authorization: `Bearer ${METRICS_TOKEN}` })).status).toBe(200);
    // Through a reverse proxy on this host every client looks local: only the token reads it then.
    const proxied = { 'x-forwarded-for': '203.0.113.7' };
    expect((await scrape(base, proxied)).status).toBe(404);
    expect((await scrape(base, { ...proxied, authorization: `Bearer ${METRICS_TOKEN}` })).status).toBe(200);
    const wrong = await scrape(base, { authorization: 'Bearer not-the-token-at-all' });
    expect(wrong.status).toBe(404);
    expect(await wrong.text()).not.toContain('cocoon_bot');
  });

  it('reads only from this host without a token', async () => {
    const { base } = await start({ metricsToken: undefined });
    expect((await scrape(base)).status).toBe(200);
    expect((await scrape(base, { forwarded: 'for=198.51.100.2' })).status).toBe(404);
    expect((await scrape(base, { authorization: 'Bearer anything-at-all-here' })).status).toBe(200);
  });
});

describe('mayReadMetrics', () => {
  const direct = (remoteAddress: string | undefined, headers: Record<string, string> = {}) => ({
    remoteAddress,
    headers,
  });

  it('lets loopback peers in, in every spelling a socket reports, and nobody else', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
      expect(mayReadMetrics(direct(address), undefined)).toBe(true);
    }
    for (const address of [
      '203.0.113.7',
      '10.0.0.2',
      '::ffff:10.0.0.2',
      '2001:db8::1',
      '0.0.0.0',
      undefined,
    ]) {
      expect(mayReadMetrics(direct(address), undefined)).toBe(false);
    }
    expect(mayReadMetrics(direct('127.0.0.1', { 'x-real-ip': '203.0.113.7' }), undefined)).toBe(false);
  });

  it('lets the right bearer token in from anywhere, and refuses a wrong one even from loopback', () => {
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    expect(mayReadMetrics(direct('203.0.113.7', bearer(METRICS_TOKEN)), METRICS_TOKEN)).toBe(true);
    expect(mayReadMetrics(direct('203.0.113.7', bearer(`${METRICS_TOKEN}x`)), METRICS_TOKEN)).toBe(false);
    expect(mayReadMetrics(direct('127.0.0.1', bearer('short')), METRICS_TOKEN)).toBe(false);
    expect(mayReadMetrics(direct('203.0.113.7', bearer(METRICS_TOKEN)), undefined)).toBe(false);
  });
});

describe('the summary queue gauge', () => {
  it('reads the queue at each scrape', async () => {
    let queue = { active: 16, pending: 40 };
    const metrics = new TelegramMetrics({ summaryQueue: () => queue });
    const gauge = async () => samplesOf(await metrics.registry.metrics(), 'cocoon_bot_summary_queue');
    expect(await gauge()).toEqual(
      new Map([
        ['state="active"', 16],
        ['state="pending"', 40],
      ]),
    );
    queue = { active: 3, pending: 0 };
    expect(await gauge()).toEqual(
      new Map([
        ['state="active"', 3],
        ['state="pending"', 0],
      ]),
    );
  });

  it('is left out when summaries do not go through the network', async () => {
    expect(await new TelegramMetrics().registry.metrics()).not.toContain('cocoon_bot_summary_queue');
  });
});
