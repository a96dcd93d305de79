import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fromBase64, ManualClock, verifyReceipt } from '@cocoon/shared';
import {
  ChannelsResponse,
  CLIENT_TOP_UP_OP,
  HistoryResponse,
  MeResponse,
  NetworkResponse,
  ReaderResponse,
  signInitData,
  TopUpIntent,
} from '@cocoon/shared/protocol/app-api';
import { Cell } from '@ton/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixtureCollateral } from '../../../shared/test/attestation/fixtures.js';
import { type AppServerOptions, createAppServer } from '../../src/app/index.js';
import { BACKENDS, type BotStoreBackend, openBackend } from './backends.js';
import { createDemo, DEMO_CHANNEL_ID, DEMO_CONTRACT, DEMO_USER, type Demo } from './demo.js';

const BOT_TOKEN = '123456:TEST-token-for-the-app-server';
const NOW = 1_790_000_000;

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

describe.each(BACKENDS)('the app API over the bot store in %s', (backendName) => {
  let backend: BotStoreBackend;
  beforeAll(async () => {
    backend = await openBackend(backendName);
  }, 120_000);
  afterAll(() => backend?.close());

  async function start(overrides: Partial<AppServerOptions> = {}): Promise<{ base: string; demo: Demo }> {
    const demo = await createDemo(NOW, await backend.fresh());
    const app = createAppServer({
      ...demo.options,
      botToken: BOT_TOKEN,
      publicUrl: 'https://app.example.org',
      clock: new ManualClock(NOW * 1000),
      ...overrides,
    });
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, demo };
  }

  function initData(user: object = DEMO_USER, authDate = NOW - 60, token = BOT_TOKEN): string {
    return signInitData({ auth_date: String(authDate), query_id: 'AAH', user: JSON.stringify(user) }, token);
  }

  function call(
    base: string,
    path: string,
    init: RequestInit & { auth?: string | null; json?: unknown } = {},
  ) {
    const headers = new Headers(init.headers);
    if (init.auth !== null) headers.set('authorization', `tma ${init.auth ?? initData()}`);
    if (init.json !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${base}${path}`, {
      ...init,
      headers,
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    });
  }

  async function errorOf(response: Response): Promise<{ code: string; message: string }> {
    return ((await response.json()) as { error: { code: string; message: string } }).error;
  }

  describe('initData authentication', () => {
    it('accepts fresh initData signed with the bot token', async () => {
      const { base } = await start();
      const response = await call(base, '/api/me');
      expect(response.status).toBe(200);
      const me = MeResponse.parse(await response.json());
      expect(me.user).toEqual({ id: DEMO_USER.id, firstName: 'Ada', username: 'ada' });
    });

    it.each([
      ['missing', null, 'unauthorized'],
      ['forged (another bot token)', initData(DEMO_USER, NOW - 60, '999:other'), 'init_data_hash_mismatch'],
      ['expired', initData(DEMO_USER, NOW - 2 * 86_400), 'init_data_expired'],
      ['from the future', initData(DEMO_USER, NOW + 3600), 'init_data_from_future'],
    ])('refuses %s initData with 401', async (_name, auth, code) => {
      const { base } = await start();
      const response = await call(base, '/api/me', { auth });
      expect(response.status).toBe(401);
      expect((await errorOf(response)).code).toBe(code);
    });

    it('refuses initData whose user was changed after signing', async () => {
      const { base } = await start();
      const params = new URLSearchParams(initData());
      params.set('user', JSON.stringify({ ...DEMO_USER, id: 1 }));
      const response = await call(base, '/api/me', { auth: params.toString() });
      expect((await errorOf(response)).code).toBe('init_data_hash_mismatch');
    });
  });

  describe('account and history', () => {
    it('shows TON and Stars credit and the free quota', async () => {
      const { base } = await start();
      const me = MeResponse.parse(await (await call(base, '/api/me')).json());
      expect(me.balance).toEqual({ ton: 2_500_000_000n, stars: 150 });
      expect(me.freeQuota).toEqual({ left: 3, limit: 5, resetsAt: (Math.floor(NOW / 86_400) + 1) * 86_400 });
    });

    it('lists jobs newest first with receipts that verify, pages by time, and has nothing for others', async () => {
      const { base, demo } = await start();
      const history = HistoryResponse.parse(await (await call(base, '/api/history')).json());
      expect(history.jobs.map((job) => job.jobId)).toEqual([demo.validJobId, demo.tamperedJobId]);
      const [newest] = history.jobs;
      expect(verifyReceipt(newest?.receipt as never).amount).toBe(newest?.cost);
      expect(newest?.settlement?.lt).toBe('48210000001');
      expect(history.policy.allowDev).toBe(true);

      const page = HistoryResponse.parse(
        await (await call(base, `/api/history?limit=1&before=${newest?.createdAt}`)).json(),
      );
      expect(page.jobs.map((job) => job.jobId)).toEqual([demo.tamperedJobId]);

      const stranger = initData({ id: 42, first_name: 'Eve' });
      const empty = HistoryResponse.parse(
        await (await call(base, '/api/history', { auth: stranger })).json(),
      );
      expect(empty.jobs).toEqual([]);
    });

    it('answers a bad query with a clear 400', async () => {
      const { base } = await start();
      const response = await call(base, '/api/history?limit=500');
      expect(response.status).toBe(400);
      const error = await errorOf(response);
      expect(error.code).toBe('bad_request');
      expect(error.message).toContain('limit');
    });
  });

  describe('TonConnect top-ups', () => {
    it('returns the client contract and a TopUp payload with the user reference; confirms only on a chain credit', async () => {
      const { base, demo } = await start();
      const created = await call(base, '/api/topups', { method: 'POST', json: { amount: '1000000000' } });
      expect(created.status).toBe(201);
      const intent = TopUpIntent.parse(await created.json());
      expect(intent).toMatchObject({ address: DEMO_CONTRACT, amount: 1_000_000_000n, status: 'pending' });
      expect(intent.validUntil).toBe(NOW + 900);

      const body = Cell.fromBoc(Buffer.from(fromBase64(intent.payload)))[0]?.beginParse();
      expect(body?.loadUint(32)).toBe(CLIENT_TOP_UP_OP);
      expect(body?.loadUintBig(64)).toBe(BigInt(intent.id));
      expect(body?.loadBit()).toBe(false);
      expect(body?.loadUintBig(64)).toBe(BigInt(DEMO_USER.id));

      const pending = TopUpIntent.parse(await (await call(base, `/api/topups/${intent.id}`)).json());
      expect(pending.status).toBe('pending');

      await demo.store.recordCredit({
        lt: '48300000001',
        hash: 'ab'.repeat(32),
        userId: DEMO_USER.id,
        queryId: BigInt(intent.id),
        amount: 996_000_000n,
      });
      const confirmed = TopUpIntent.parse(await (await call(base, `/api/topups/${intent.id}`)).json());
      expect(confirmed).toMatchObject({
        status: 'confirmed',
        credited: 996_000_000n,
        txHash: 'ab'.repeat(32),
      });
      const me = MeResponse.parse(await (await call(base, '/api/me')).json());
      expect(me.balance.ton).toBe(2_500_000_000n + 996_000_000n);
    });

    it("does not show one user's top-up to another, and refuses amounts out of range", async () => {
      const { base } = await start();
      const intent = TopUpIntent.parse(
        await (await call(base, '/api/topups', { method: 'POST', json: { amount: '500000000' } })).json(),
      );
      const stranger = initData({ id: 42, first_name: 'Eve' });
      expect((await call(base, `/api/topups/${intent.id}`, { auth: stranger })).status).toBe(404);

      for (const amount of ['1', '-5', '1.5', 5]) {
        const response = await call(base, '/api/topups', { method: 'POST', json: { amount } });
        expect(response.status).toBe(400);
        expect((await errorOf(response)).message).toMatch(/amount/);
      }
    });

    it('serves the TonConnect manifest without authentication', async () => {
      const { base } = await start();
      const manifest = await (await fetch(`${base}/tonconnect-manifest.json`)).json();
      expect(manifest).toEqual({
        url: 'https://app.example.org',
        name: 'Cocoon',
        iconUrl: 'https://app.example.org/icon.png',
      });
    });
  });

  describe('Stars, channels, reader, network', () => {
    it('creates a Stars invoice link through the Bot API', async () => {
      const { base, demo } = await start();
      const response = await call(base, '/api/stars/invoice', { method: 'POST', json: { stars: 250 } });
      expect(await response.json()).toEqual({ link: 'https://t.me/$demo-invoice-250' });
      expect(demo.invoices).toEqual([{ userId: DEMO_USER.id, stars: 250 }]);
    });

    it('lists only channels the user administers and lets only admins change settings', async () => {
      const { base } = await start();
      const mine = ChannelsResponse.parse(await (await call(base, '/api/channels')).json());
      expect(mine.channels.map((channel) => channel.chatId)).toEqual([DEMO_CHANNEL_ID]);
      expect(mine.channels[0]?.settings.sponsorBudget).toBe(5_000_000_000n);

      const stranger = initData({ id: 42, first_name: 'Eve' });
      expect(
        ChannelsResponse.parse(await (await call(base, '/api/channels', { auth: stranger })).json()),
      ).toEqual({
        channels: [],
      });
      const refused = await call(base, `/api/channels/${DEMO_CHANNEL_ID}`, {
        method: 'PUT',
        auth: stranger,
        json: { enabled: false },
      });
      expect(refused.status).toBe(403);

      const updated = await call(base, `/api/channels/${DEMO_CHANNEL_ID}`, {
        method: 'PUT',
        json: { length: 'bullets', sponsorBudget: '7000000000' },
      });
      expect(updated.status).toBe(200);
      const after = ChannelsResponse.parse(await (await call(base, '/api/channels')).json());
      expect(after.channels[0]?.settings).toMatchObject({
        length: 'bullets',
        sponsorBudget: 7_000_000_000n,
        enabled: true,
      });

      const invalid = await call(base, `/api/channels/${DEMO_CHANNEL_ID}`, {
        method: 'PUT',
        json: { length: 'epic' },
      });
      expect(invalid.status).toBe(400);
      expect((await call(base, '/api/channels/-100999', { method: 'PUT', json: {} })).status).toBe(404);
    });

    it('summarizes a link, maps reader errors, and rejects non-http links', async () => {
      const { base } = await start();
      const ok = await call(base, '/api/reader', { method: 'POST', json: { url: 'https://example.org/a' } });
      const result = ReaderResponse.parse(await ok.json());
      expect(result.summary).toContain('Attestation');
      expect(result.article.text).toContain('remote attestation');

      const unreadable = await call(base, '/api/reader', {
        method: 'POST',
        json: { url: 'https://x.invalid/' },
      });
      expect(unreadable.status).toBe(422);
      expect((await errorOf(unreadable)).code).toBe('bad_link');

      const notHttp = await call(base, '/api/reader', {
        method: 'POST',
        json: { url: 'file:///etc/passwd' },
      });
      expect(notHttp.status).toBe(400);
      const notJson = await call(base, '/api/reader', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"url":',
      });
      expect(notJson.status).toBe(400);
      expect((await errorOf(notJson)).code).toBe('bad_request');
    });

    it('passes the proxy listings and the policy through for verification in the browser', async () => {
      const { base } = await start();
      const network = NetworkResponse.parse(await (await call(base, '/api/network')).json());
      expect(network.workers).toHaveLength(1);
      expect(network.workers[0]?.models[0]?.pricePerToken).toBe(1000n);
      expect(network.models[0]?.minPricePerToken).toBe(1000n);
      expect(network.fetchedAt).toBe(NOW);
      expect(network.collateral).toEqual({});
    });

    it("passes on the collateral the app's client fetched, for the browser to verify with", async () => {
      const collateral = fixtureCollateral('tdx_quote_collateral.json');
      const { base } = await start({
        network: async () => ({ workers: [], models: [], collateral: { 'worker-tdx-1': collateral } }),
      });
      const network = NetworkResponse.parse(await (await call(base, '/api/network')).json());
      expect(network.collateral).toEqual({ 'worker-tdx-1': collateral });
    });

    it('answers unknown API routes and failures with JSON', async () => {
      const { base } = await start({
        network: async () => {
          throw new Error('proxy down');
        },
      });
      const unknown = await call(base, '/api/nope');
      expect(unknown.status).toBe(404);
      expect((await errorOf(unknown)).code).toBe('not_found');
      const failed = await call(base, '/api/network');
      expect(failed.status).toBe(500);
      expect(await errorOf(failed)).toEqual({ code: 'internal', message: 'internal error' });
    });
  });

  describe('rate limit', () => {
    it('limits each user separately with 429 and a JSON error', async () => {
      const { base } = await start({ rateLimit: { windowMs: 60_000, limit: 3 } });
      for (let i = 0; i < 3; i++) expect((await call(base, '/api/me')).status).toBe(200);
      const limited = await call(base, '/api/me');
      expect(limited.status).toBe(429);
      expect((await errorOf(limited)).code).toBe('rate_limited');
      const other = await call(base, '/api/me', { auth: initData({ id: 42, first_name: 'Eve' }) });
      expect(other.status).toBe(200);
    });

    it('limits unauthenticated requests per address, so forged initData cannot flood the check', async () => {
      const { base } = await start({ rateLimit: { windowMs: 60_000, limit: 2 } });
      const forged = initData(DEMO_USER, NOW - 60, '1:forged');
      const statuses: number[] = [];
      for (let i = 0; i < 11; i++) statuses.push((await call(base, '/api/me', { auth: forged })).status);
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
      expect(statuses[10]).toBe(429);
    });
  });
});
