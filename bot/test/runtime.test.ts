import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@cocoon/shared/log';
import { MeResponse, ReaderResponse, signInitData } from '@cocoon/shared/protocol/app-api';
import type { Store } from '@cocoon/shared/store';
import type { Update } from 'grammy/types';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../shared/test/support/test-store.js';
import { publicInternetPolicy } from '../src/links/address-policy.js';
import { createArticleReader } from '../src/links/read-article.js';
import { type RunningTelegramApp, startTelegramApp, type TelegramAppOptions } from '../src/runtime.js';
import { webhookSecret } from '../src/start.js';
import { SqlBotStore } from '../src/store/sql.js';
import { FakeSummarizer } from '../src/summarize/fake-summarizer.js';
import { RecordingBotApi } from './support/bot-api.js';
import { type LoopbackServer, startLoopbackServer } from './support/loopback-server.js';
import { MetricsProbe } from './support/metrics.js';

const APP_TOKEN = '42:local-dev-token-for-the-mini-app';
const CONTRACT = 'EQBvW8Z5huBkMJYdnfAEM5JqTNkuWX3diqYENkWsIL0XggGG';
const CHANNEL_ID = -1001234567890;

let dataDir: string;
let store: Store<unknown>;
let pages: LoopbackServer;
let api: RecordingBotApi | undefined;
let running: RunningTelegramApp | undefined;
let nextUserId = 7001;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cocoon-telegram-app-'));
  store = await openTestStore('bot-runtime');
  const article = await readFile(new URL('./fixtures/pages/news-article.en.html', import.meta.url), 'utf8');
  pages = await startLoopbackServer((request, response) => {
    if (request.url === '/article') response.writeHead(200, { 'content-type': 'text/html' }).end(article);
    else response.writeHead(404).end();
  });
}, 60_000);

afterAll(async () => {
  await pages?.close();
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});

afterEach(async () => {
  await running?.stop();
  running = undefined;
  await api?.close();
  api = undefined;
});

/** Starts the app on loopback: with the recording Bot API and its token, or without a bot. */
async function start(
  { withBot, ...overrides }: { withBot: boolean } & Partial<TelegramAppOptions> = { withBot: true },
) {
  if (withBot) api = await RecordingBotApi.start();
  const token = api?.token ?? APP_TOKEN;
  running = await startTelegramApp({
    store,
    summarizer: new FakeSummarizer(),
    ...(api === undefined ? {} : { token: api.token, apiRoot: api.apiRoot, botInfo: api.botInfo }),
    appToken: token,
    host: '127.0.0.1',
    port: 0,
    staticDir: join(dataDir, 'no-miniapp-here'),
    clientContractAddress: CONTRACT,
    network: async () => ({ workers: [], models: [] }),
    policy: async () => ({ allowDev: true, imageHashes: [], models: [] }),
    settings: { freeDailySummaries: 0 },
    // The real fetch and extraction, allowed to reach the loopback page server only.
    readArticle: createArticleReader({
      policy: {
        allows: (to) =>
          (to.address === '127.0.0.1' && to.port === pages.port) || publicInternetPolicy().allows(to),
      },
      resolve: async (host) => {
        if (host !== 'news.test') throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
        return [{ address: '127.0.0.1', family: 4 }];
      },
      timeoutMs: 3_000,
    }),
    logger: createLogger('telegram-app-test', 'silent'),
    ...overrides,
  });
  const userId = nextUserId++;
  const initData = signInitData(
    {
      auth_date: String(Math.floor(Date.now() / 1000) - 5),
      user: JSON.stringify({ id: userId, first_name: 'Ada' }),
    },
    token,
  );
  const call = (path: string, init: { method?: string; json?: unknown } = {}) =>
    fetch(`${running?.url}${path}`, {
      method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
      headers: {
        authorization: `tma ${initData}`,
        ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
      signal: AbortSignal.timeout(10_000),
    });
  return { userId, call, bots: await SqlBotStore.open(store) };
}

const topUp = (userId: number, lt: string, amount = 2_000_000_000n) => ({
  lt,
  hash: 'ab'.repeat(32),
  userId,
  queryId: 12_345n,
  amount,
});

describe('startTelegramApp', () => {
  it('answers /api/me for signed initData, refuses other tokens, and says on / that the app is not built', async () => {
    const { userId, call } = await start();
    expect(running?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const me = MeResponse.parse(await (await call('/api/me')).json());
    expect(me.user).toEqual({ id: userId, firstName: 'Ada' });
    expect(me.freeQuota.limit).toBe(0);

    const forged = signInitData({ auth_date: String(Math.floor(Date.now() / 1000)), user: '{}' }, '1:other');
    const refused = await fetch(`${running?.url}/api/me`, { headers: { authorization: `tma ${forged}` } });
    expect(refused.status).toBe(401);

    const home = await fetch(`${running?.url}/`);
    expect(home.status).toBe(503);
    expect(await home.text()).toMatch(/Mini App is not built.*no-miniapp-here/);
  });

  it('reads a link for the app: fetched, summarized, charged to the user and recorded as a job', async () => {
    const { userId, call, bots } = await start();
    await running?.creditTopUp(topUp(userId, '100'));
    const response = await call('/api/reader', {
      json: { url: 'http://news.test:PORT/article'.replace('PORT', String(pages.port)), length: 'short' },
    });
    expect(response.status).toBe(200);
    const read = ReaderResponse.parse(await response.json());
    expect(read.summary.length).toBeGreaterThan(0);
    expect(read.article.text.length).toBeGreaterThan(read.summary.length);
    expect(read.paidWith).toBe('ton');
    expect(read.promptTokens).toBeGreaterThan(0);

    const [job] = await bots.recentJobs(userId, 5);
    expect(job).toMatchObject({ userId, sourceKind: 'link', paidBy: 'credit' });
    expect(job?.cost).toBeGreaterThan(0n);
    expect(await bots.balance(userId)).toBe(2_000_000_000n - (job?.cost ?? 0n));
  });

  it('answers the reader with 402 without credit, and 422 for a page that is not there', async () => {
    const { call, userId } = await start();
    const link = `http://news.test:${pages.port}/article`;
    const unpaid = await call('/api/reader', { json: { url: link } });
    expect(unpaid.status).toBe(402);
    expect(await unpaid.json()).toMatchObject({
      error: { code: 'no_credit', message: expect.stringMatching(/credit/) },
    });

    await running?.creditTopUp(topUp(userId, '101'));
    const missing = await call('/api/reader', { json: { url: `http://news.test:${pages.port}/gone` } });
    expect(missing.status).toBe(422);
    expect(await missing.json()).toMatchObject({ error: { code: 'bad_link' } });
  });

  it('makes a Stars invoice through the Bot API and refuses amounts that are not packages', async () => {
    const { call } = await start();
    const response = await call('/api/stars/invoice', { json: { stars: 250 } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { link: string }).link).toMatch(/^https:\/\/t\.me\//);
    expect(api?.callsTo('createInvoiceLink')).toEqual([
      expect.objectContaining({ payload: 'topup:250', currency: 'XTR' }),
    ]);
    expect((await call('/api/stars/invoice', { json: { stars: 7 } })).status).toBe(400);
  });

  it('credits a TON top-up once per (lt, hash) and tells the user once', async () => {
    const { userId, call, bots } = await start();
    expect(await running?.creditTopUp(topUp(userId, '200', 1_500_000_000n))).toBe(true);
    expect(await running?.creditTopUp(topUp(userId, '200', 1_500_000_000n))).toBe(false);
    expect(await bots.balance(userId)).toBe(1_500_000_000n);
    expect(api?.callsTo('sendMessage').filter((params) => params.chat_id === userId)).toEqual([
      expect.objectContaining({ text: expect.stringContaining('1.5 TON added') }),
    ]);
    const me = MeResponse.parse(await (await call('/api/me')).json());
    expect(me.balance.ton).toBe(1_500_000_000n);
  });

  it('without a token runs no bot: the Bot API endpoints answer 503, the rest works', async () => {
    const { userId, call, bots } = await start({ withBot: false });
    expect(running?.bot).toBeUndefined();
    await bots.saveChannel({
      chatId: CHANNEL_ID,
      title: 'Harbour news',
      enabled: true,
      minPostLength: 500,
      language: 'auto',
      length: 'short',
      payer: 'reader',
      postAsComment: false,
      canEditMessages: true,
      active: true,
    });
    for (const response of [
      await call('/api/stars/invoice', { json: { stars: 50 } }),
      await call('/api/channels'),
      await call(`/api/channels/${CHANNEL_ID}`, { method: 'PUT', json: { enabled: false } }),
    ]) {
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        error: { code: 'bot_not_running', message: 'the bot is not running: set BOT_TOKEN' },
      });
    }
    expect((await call('/api/me')).status).toBe(200);
    expect(await running?.creditTopUp(topUp(userId, '300'))).toBe(true);
    expect(await bots.balance(userId)).toBe(2_000_000_000n);
  });
});

describe('the Telegram side’s metrics', () => {
  const REFUSALS = 'cocoon_bot_refusals_total';
  const CREDITS = 'cocoon_bot_credits_total';
  const NANOTONS = 'cocoon_bot_credited_nanotons_total';
  const SUMMARIES = 'cocoon_bot_summaries_total';
  const refusal = (reason: string) => `${REFUSALS}{reason="${reason}"}`;

  /** The app with a webhook, a user of the recording Bot API, and a probe of its /metrics. */
  async function startObserved() {
    const started = await start({
      withBot: true,
      webhook: { url: 'https://bot.example.org/telegram/updates' },
    });
    const botApi = api as RecordingBotApi;
    const deliver = async (update: Update, secret = webhookSecret(botApi.token)) =>
      (
        await fetch(`${running?.url}/telegram/updates`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret },
          body: JSON.stringify(update),
          signal: AbortSignal.timeout(10_000),
        })
      ).status;
    const probe = await new MetricsProbe(running?.url as string).start();
    return { ...started, botApi, user: botApi.user(started.userId), deliver, probe };
  }

  it('counts webhook updates with a wrong or missing secret, and not the right one', async () => {
    const { botApi, user, deliver, probe } = await startObserved();
    expect(await deliver(botApi.command(user, 'start'))).toBe(200);
    expect(await probe.changes(REFUSALS)).toEqual({});
    expect(await deliver(botApi.command(user, 'help'), 'not-the-secret')).toBe(401);
    expect(await probe.changes(REFUSALS)).toEqual({ [refusal('webhook_bad_secret')]: 1 });
  });

  it('counts refused pre-checkouts, forged and repeated payments, and the Stars it credited', async () => {
    const { botApi, user, deliver, probe } = await startObserved();
    expect(await deliver(botApi.preCheckoutQuery(user, 'topup:250', 250))).toBe(200);
    expect(await probe.changes(REFUSALS)).toEqual({});
    expect(await deliver(botApi.preCheckoutQuery(user, 'free-stars-please', 250))).toBe(200);
    expect(botApi.callsTo('answerPreCheckoutQuery').map((answer) => answer.ok)).toEqual([true, false]);
    expect(await probe.changes(REFUSALS)).toEqual({ [refusal('pre_checkout_refused')]: 1 });

    const payment = botApi.successfulPayment(user, 'topup:250', 250);
    expect(await deliver(payment)).toBe(200);
    expect(await probe.changes(REFUSALS, CREDITS, NANOTONS)).toEqual({
      [`${CREDITS}{currency="stars"}`]: 1,
      [`${NANOTONS}{currency="stars"}`]: 250 * 4_000_000,
    });
    expect(await deliver(payment)).toBe(200); // Telegram's redelivery, or a replay
    expect(await probe.changes(REFUSALS, CREDITS)).toEqual({ [refusal('payment_duplicate')]: 1 });
    expect(await deliver(botApi.successfulPayment(user, 'topup:250', -250))).toBe(200);
    expect(await probe.changes(REFUSALS, CREDITS)).toEqual({ [refusal('payment_forged')]: 1 });
  });

  it('counts TON top-ups credited, the same transaction again, and TopUps that name no user', async () => {
    const { userId, probe } = await startObserved();
    expect(await running?.creditTopUp(topUp(userId, '500'))).toBe(true);
    expect(await probe.changes(REFUSALS, CREDITS, NANOTONS)).toEqual({
      [`${CREDITS}{currency="ton"}`]: 1,
      [`${NANOTONS}{currency="ton"}`]: 2_000_000_000,
    });
    expect(await running?.creditTopUp(topUp(userId, '500'))).toBe(false);
    expect(await probe.changes(REFUSALS, CREDITS)).toEqual({ [refusal('top_up_duplicate')]: 1 });
    // A reference that is no Telegram user id, and a transfer the gas ate: refused, not thrown (a throw would
    // stall the chain watcher on that transaction for good).
    expect(await running?.creditTopUp(topUp(0, '501'))).toBe(false);
    expect(await probe.changes(REFUSALS, CREDITS)).toEqual({ [refusal('top_up_forged')]: 1 });
    expect(await running?.creditTopUp(topUp(userId, '502', 0n))).toBe(false);
    expect(await probe.changes(REFUSALS, CREDITS)).toEqual({ [refusal('top_up_forged')]: 1 });
  });

  it('counts links refused by the address policy, and summaries by outcome', async () => {
    const { userId, call, probe } = await startObserved();
    // 'detailed': no other test here asked for it, so no summary of it is stored.
    const article = { json: { url: `http://news.test:${pages.port}/article`, length: 'detailed' } };
    expect((await call('/api/reader', article)).status).toBe(402); // no free summaries, no credit
    expect(await probe.changes(REFUSALS, SUMMARIES)).toEqual({ [`${SUMMARIES}{outcome="no_credit"}`]: 1 });
    await running?.creditTopUp(topUp(userId, '600'));
    expect((await call('/api/reader', article)).status).toBe(200);
    expect(await probe.changes(REFUSALS, SUMMARIES)).toEqual({ [`${SUMMARIES}{outcome="done"}`]: 1 });

    expect((await call('/api/reader', { json: { url: 'http://127.0.0.1:1/admin' } })).status).toBe(422);
    expect(await probe.changes(REFUSALS, SUMMARIES)).toEqual({ [refusal('ssrf_refused')]: 1 });
  });
});
