// The Mini App against the whole embedded network, in headless Chromium inside a fake Telegram host (signed
// initData): a wallet with real keys, injected through TonConnect's JS bridge, connects and tops up 1 TON by a
// signed external message on the sandbox chain; the balance rises only once the chain watcher credits it; the
// Reader summarizes a page from a loopback server through the proxy and a llama.cpp worker; the bot, admin of a
// channel (through the recording Bot API), puts ✨ Summary under a long post and the same user's tap gets its
// summary; both jobs are paid from the top-up (the free quota is off); the history shows them with their
// receipts verified in the browser; then the proxy settles on chain and every balance is checked to the
// nanoton: the user's ledger, the app's Client contract, the worker's payout and the Proxy contract's
// commission; the history then names each job's settlement, the Charge transaction the app's chain watcher
// saw. Screenshots of each step go to test-results/network-e2e/.
// The only edge served by the test is TonConnect's wallets list (config.ton.org): every other request that
// leaves loopback is refused and recorded.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createArticleReader, SqlBotStore } from '@cocoon/bot';
import {
  type ChargeEvent,
  ClientContract,
  type ClientState,
  chargeOf,
  Op,
  ProxyContract,
  type ProxyState,
  topUpCredit,
  Value,
  WorkerContract,
} from '@cocoon/contracts';
import { SandboxChain } from '@cocoon/contracts/sandbox';
import { loadConfig, verifyReceipt } from '@cocoon/shared';
import { FileVoucherStore } from '@cocoon/shared/client/voucher-file';
import { createLogger } from '@cocoon/shared/log';
import {
  CLIENT_TOP_UP_OP,
  HistoryResponse,
  MeResponse,
  ReaderResponse,
} from '@cocoon/shared/protocol/app-api';
import { writeTinyGguf } from '@cocoon/worker/testing';
import { Address, Cell, type Transaction } from '@ton/core';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  launchChromium,
  mainButtonReady,
  openInTelegram,
  pressBack,
  type TelegramPage,
  telegramEvent,
} from '../../bot/test/app/telegram-host.js';
import { injectTonConnectWallet, type TransferRequest } from '../../bot/test/app/tonconnect-wallet.js';
import { parseTelegramHtml, RecordingBotApi } from '../../bot/test/support/bot-api.js';
import { createTestDatabase, type TestDatabase } from '../../shared/test/support/test-store.js';
import { type RunningNetwork, startNetwork } from '../src/network.js';
import { ensureMiniAppBuilt } from './support/miniapp-dist.js';
import { SandboxWallet } from './support/sandbox-wallet.js';

const ARTIFACTS = fileURLToPath(new URL('../test-results/network-e2e', import.meta.url));
const USER = { id: 777_002, first_name: 'Ada', username: 'ada' };
const ONE_TON = 1_000_000_000n;
/** TonConnect's wallets list (the SDK's default source): an injected wallet is found through its entry. */
const WALLETS_LIST_URL = 'https://config.ton.org/wallets-v2.json';
/** The test wallet's bridge and its wallets list entry; its icon is the app's own, served on loopback. */
const walletBridge = (origin: string) => ({
  jsBridgeKey: 'cocoonTestWallet',
  walletInfo: {
    name: 'Cocoon Test Wallet',
    app_name: 'cocoontestwallet',
    image: `${origin}/icon.png`,
    about_url: origin,
    platforms: ['ios', 'android', 'chrome', 'linux'],
  },
});
const ARTICLE = {
  title: 'Batching settles AI jobs on TON',
  paragraphs: [
    'A proxy meters every job a worker runs and asks the client to sign its new cumulative total.',
    'One message on chain then settles any number of jobs, so the fee per job falls as jobs add up.',
    'A client that stops signing is cut off once its unsigned credit window is used.',
  ],
};

/** A channel the bot administers, its admin, and a post long enough for the ✨ Summary button (500 chars). */
const CHANNEL = { id: -1_001_000_000_777, title: 'Cocoon Weekly' };
const CHANNEL_ADMIN_ID = 777_003;
const CHANNEL_POST = [
  'This week the Cocoon network settled its first thousand summaries in a single charge on TON.',
  'Each summary is metered by the proxy, which asks the app to sign its new cumulative total after every job.',
  'Workers are paid their share of the metered tokens once their earnings pass the payout threshold.',
  'The proxy keeps the difference as its commission, and every receipt can be checked in the Mini App.',
  'Next week: attestation bundles for confidential GPUs and how a reader verifies them in the browser.',
  'Thanks for reading, and for running a worker if you have a spare GPU.',
].join(' ');

// Errors only: a step that fails in CI then shows what the app, bot or proxy logged about it.
const log = createLogger('test', 'error');
let dir: string;
let botApi: RecordingBotApi;
let network: RunningNetwork;
let chain: SandboxChain;
let pages: Server;
let articleUrl: string;
let pageRequests = 0;
let browser: Browser;
let wallet: SandboxWallet;
let app: TelegramPage;
/** Where the embedded worker is paid: a fresh address, so everything it holds came from payouts. */
const payoutAddress = new Address(0, randomBytes(32));
/** The contracts before any job or top-up: each balance is checked against its own start. */
let atStart: { client: ClientState; proxy: ProxyState };
/** Requests the page made beyond loopback. */
const outside: string[] = [];
const pageErrors: string[] = [];

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

/** A fresh database on the server of a Postgres pass (`npm run test:postgres`); PGlite otherwise. */
let database: TestDatabase | undefined;

beforeAll(async () => {
  await ensureMiniAppBuilt();
  dir = await mkdtemp(join(tmpdir(), 'cocoon-miniapp-e2e-'));
  const tiny = await writeTinyGguf(join(dir, 'tiny.gguf'), { contextLength: 4096 });
  pages = createServer((request, response) => {
    pageRequests++;
    if (request.url !== '/batching') return response.writeHead(404).end();
    response
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end(
        `<!doctype html><html lang="en"><head><title>${ARTICLE.title}</title></head><body><article><h1>${ARTICLE.title}</h1>${ARTICLE.paragraphs.map((p) => `<p>${p}</p>`).join('')}</article></body></html>`,
      );
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  const pagesPort = (pages.address() as AddressInfo).port;
  articleUrl = `http://127.0.0.1:${pagesPort}/batching`;
  botApi = await RecordingBotApi.start();
  database = await createTestDatabase('miniapp-topup');
  network = await startNetwork({
    config: loadConfig({
      ...(database === undefined ? {} : { DATABASE_URL: database.url }),
      BOT_TOKEN: botApi.token,
      COCOON_DATA_DIR: join(dir, 'data'),
      COCOON_MODEL: tiny.path,
      WORKER_GPU: 'cpu',
      WORKER_THREADS: '1',
      // Settle every nanoton (as network.test.ts does): the test then waits on the settlement tick alone.
      PROXY_CHARGE_THRESHOLD: '1',
      PROXY_PAYOUT_THRESHOLD: '1',
      WORKER_PAYOUT_ADDRESS: payoutAddress.toString(),
    }),
    log,
    ports: { proxy: 0, gateway: 0, workerStatus: null, app: 0, chainRpc: 0 },
    botApiRoot: botApi.apiRoot,
    // No free quota: every job is paid from the top-up. A tap on ✨ Summary answers at once with the deep
    // link, so the summary reaches the reader as a bot message whatever the random model's length.
    botSettings: { freeDailySummaries: 0, tapWaitMs: 0 },
    // The real fetch and extraction, allowed to reach the one loopback page server.
    readArticle: createArticleReader({
      policy: { allows: (to) => to.address === '127.0.0.1' && to.port === pagesPort },
      timeoutMs: 5_000,
    }),
  });
  if (!(network.chain instanceof SandboxChain)) throw new Error('the test runs on the embedded chain');
  chain = network.chain;
  for (let i = 0; i < 100 && network.worker.link.state !== 'admitted'; i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  expect(network.worker.link.state).toBe('admitted');
  atStart = {
    client: await appClientContract().getState(),
    proxy: await proxyContract().getState(),
  };
  wallet = await SandboxWallet.deploy(chain, 5n * ONE_TON);

  browser = await launchChromium();
  await mkdir(ARTIFACTS, { recursive: true });
  const bridge = walletBridge(network.telegram.url);
  app = await openInTelegram(browser, {
    url: network.telegram.url,
    botToken: botApi.token,
    user: USER,
    pageErrors,
    beforeOpen: async (page) => {
      await page.context().route(
        (url) => url.hostname !== '127.0.0.1',
        (route) => {
          const url = route.request().url();
          outside.push(url);
          if (url !== WALLETS_LIST_URL) return route.abort('blockedbyclient');
          return route.fulfill({
            json: [{ ...bridge.walletInfo, bridge: [{ type: 'js', key: bridge.jsBridgeKey }] }],
          });
        },
      );
      await injectTonConnectWallet(page, wallet.injected(bridge, expectTopUpOfOneTon));
    },
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await network?.stop();
  await database?.drop();
  await botApi?.close();
  if (pages !== undefined) await new Promise((resolve) => pages.close(resolve));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const appClientContract = () =>
  chain.open(ClientContract.createFromAddress(Address.parse(network.appAccount.contract)));
const proxyContract = () => chain.open(ProxyContract.createFromAddress(network.link.proxy));

/** The user's check on the wallet's confirmation screen: 1 TON to the app's contract, with their reference. */
function expectTopUpOfOneTon(request: TransferRequest): void {
  expect(request.messages).toHaveLength(1);
  const [message] = request.messages;
  expect(Address.parse(message?.address ?? '').equals(Address.parse(network.appAccount.contract))).toBe(true);
  expect(message?.amount).toBe(ONE_TON.toString());
  const body = Cell.fromBase64(message?.payload ?? '').beginParse();
  expect(body.loadUint(32)).toBe(CLIENT_TOP_UP_OP);
  body.loadUintBig(64); // the query id: the intent the app's server made
  expect(body.loadBit()).toBe(false); // a numeric reference
  expect(body.loadUintBig(64)).toBe(BigInt(USER.id));
}

/** "0.99… TON" to the nanoton, as the app prints an amount under 1 TON with `digits` of fraction. */
const tonBelowOne = (nanotons: bigint, digits = 9) =>
  `0.${nanotons.toString().padStart(9, '0').slice(0, digits).replace(/0+$/, '')} TON`;

describe('the Mini App on the embedded network (real chain, proxy, worker and wallet keys)', () => {
  it('connects the injected wallet and tops up 1 TON: pending until the chain confirms, then the exact credit', async () => {
    const { page, mainButton } = app;
    const appContract = appClientContract();
    const before = await appContract.getState();
    await expect.poll(() => page.getByTestId('balance').textContent()).toContain('0 TON');
    await page.screenshot({ path: join(ARTIFACTS, '1-home.png'), fullPage: true });

    await page.getByRole('button', { name: /^Top up/ }).click();
    await mainButtonReady(mainButton, 'Connect wallet');
    await telegramEvent(page, 'main_button_pressed'); // inside the wallet's browser: no modal, a direct connect
    await expect.poll(() => wallet.connects.length, { timeout: 10_000 }).toBe(1);
    expect(wallet.connects[0]).toEqual({
      manifestUrl: `${network.telegram.url}/tonconnect-manifest.json`,
      items: [{ name: 'ton_addr' }],
    });
    await mainButtonReady(mainButton, 'Top up 1 TON');
    // The wallets list was asked for at its public address and served here; nothing else left loopback.
    expect(new Set(outside)).toEqual(new Set([WALLETS_LIST_URL]));
    await page.screenshot({ path: join(ARTIFACTS, '2-topup-connected.png'), fullPage: true });

    await telegramEvent(page, 'main_button_pressed');
    const status = page.locator('.status');
    await status.first().waitFor();
    expect(wallet.declined).toEqual([]);
    expect(await status.first().textContent()).toContain('Waiting for the chain: 1 TON sent');
    await page.screenshot({ path: join(ARTIFACTS, '3-topup-pending.png'), fullPage: true });

    // On chain: the wallet's signed external message made a transfer of exactly 1 TON to the app's contract.
    expect(wallet.sent).toHaveLength(1);
    const toContract = wallet.sent[0]?.transactions.find((tx) => {
      const info = tx.inMessage?.info;
      return info?.type === 'internal' && info.dest.equals(appContract.address);
    });
    const info = toContract?.inMessage?.info;
    expect(info?.type === 'internal' && info.value.coins).toBe(ONE_TON);
    expect(toContract?.description.type === 'generic' && toContract.description.aborted).toBe(false);

    // The design's credit: the value less the contract's top-up gas bound; the contract holds the same.
    const credit = topUpCredit(ONE_TON);
    await page.getByText(`Credited ${tonBelowOne(credit)}.`).waitFor({ timeout: 20_000 });
    expect((await appContract.getState()).balance - before.balance).toBe(credit);
    await botApi.waitForCall('sendMessage', (call) => Number(call.chat_id) === USER.id);
    await page.screenshot({ path: join(ARTIFACTS, '4-topup-credited.png'), fullPage: true });

    const me = page.waitForResponse((response) => response.url().endsWith('/api/me'));
    await pressBack(page);
    expect((await (await me).json()).balance.ton).toBe(credit.toString());
    await expect.poll(() => page.getByTestId('balance').textContent()).toContain(tonBelowOne(credit, 4));
    await page.screenshot({ path: join(ARTIFACTS, '5-home-credited.png'), fullPage: true });
  });

  let jobId: string | undefined;

  it('summarizes a page from a loopback server in the Reader, through the proxy and the worker', async () => {
    const { page, mainButton } = app;
    const jobsBefore = network.worker.stats.jobsServed;
    await page.getByRole('button', { name: /^Reader/ }).click();
    await page.getByTestId('reader-url').fill(articleUrl);
    await mainButtonReady(mainButton, 'Summarize');
    const answer = page.waitForResponse((response) => response.url().endsWith('/api/reader'), {
      timeout: 60_000,
    });
    await telegramEvent(page, 'main_button_pressed');
    const response = await answer;
    expect(response.status()).toBe(200);
    const read = ReaderResponse.parse(await response.json());
    jobId = read.jobId;
    expect(jobId).toMatch(/^[0-9a-f]{32}$/);
    expect(read.completionTokens).toBeGreaterThan(0);
    expect(network.worker.stats.jobsServed).toBe(jobsBefore + 1);
    expect(pageRequests).toBeGreaterThan(0);

    await page.getByTestId('summary').waitFor();
    // The tiny test model's words are random, but they are the worker's: the page shows what it answered.
    expect(await page.getByTestId('summary').textContent()).toBe(read.summary);
    expect(await page.locator('article h1').textContent()).toBe(ARTICLE.title);
    await page.screenshot({ path: join(ARTIFACTS, '6-reader-summary.png'), fullPage: true });
  });

  let postMessageId: number | undefined;

  it("summarizes a channel post: the bot, made admin, buttons a long post and a reader's tap gets the summary", async () => {
    const admin = botApi.user(CHANNEL_ADMIN_ID, 'Grace');
    const reader = { ...botApi.user(USER.id, USER.first_name), username: USER.username };
    const channel = botApi.channel(CHANNEL.id, CHANNEL.title);
    const botAdmin = botApi.botAdministrator({ can_edit_messages: true });
    botApi.setBotMember(channel.id, botAdmin);
    botApi.deliver(botApi.myChatMember(channel, admin, { status: 'left', user: botApi.botInfo }, botAdmin));
    // The admin who added the bot is told so, with the channel's settings link.
    const notice = await botApi.waitForCall('sendMessage', (call) => call.chat_id === admin.id, 10_000);
    expect(parseTelegramHtml(String(notice.text))).toContain(CHANNEL.title);

    const post = botApi.channelPost(channel, CHANNEL_POST);
    const messageId = post.channel_post?.message_id;
    postMessageId = messageId;
    botApi.deliver(post);
    await botApi.waitForCall(
      'editMessageReplyMarkup',
      (call) => call.chat_id === channel.id && call.message_id === messageId,
      10_000,
    );
    const buttoned = botApi.message(channel.id, messageId ?? 0);
    if (buttoned === undefined) throw new Error('the post is gone');
    expect(buttoned.reply_markup?.inline_keyboard).toEqual([
      [{ text: '✨ Summary', callback_data: 'summary' }],
    ]);

    const jobsBefore = network.worker.stats.jobsServed;
    const toReader = () => botApi.callsTo('sendMessage').filter((call) => call.chat_id === reader.id);
    const readerMessagesBefore = toReader().length;
    const tap = botApi.callbackQuery(reader, buttoned, 'summary');
    botApi.deliver(tap);
    const answer = await botApi.waitForCall(
      'answerCallbackQuery',
      (call) => call.callback_query_id === tap.callback_query?.id,
      10_000,
    );
    const deepLink = String(answer.url).match(/^https:\/\/t\.me\/[\w]+\?start=(s_[\w-]+)$/);
    expect(deepLink?.[1]).toBeDefined();
    // The reader follows the link into the bot's chat: the bot waits for the summary and sends it there.
    botApi.deliver(botApi.command(reader, 'start', deepLink?.[1]));
    await expect.poll(() => toReader().length, { timeout: 60_000 }).toBeGreaterThan(readerMessagesBefore);
    const delivered = parseTelegramHtml(String(toReader()[readerMessagesBefore]?.text));
    expect(delivered.trim()).not.toBe('');
    expect(delivered).not.toMatch(/no longer available|could not/i);
    expect(network.worker.stats.jobsServed).toBe(jobsBefore + 1);
    // Nothing is posted in the channel: the summary is the reader's.
    expect(botApi.callsTo('sendMessage').filter((call) => call.chat_id === channel.id)).toEqual([]);
  });

  let history: HistoryResponse | undefined;

  it('lists both jobs in the history, paid from the top-up, with their receipts verified in the browser', async () => {
    const { page } = app;
    await pressBack(page);
    const listed = page.waitForResponse((response) => new URL(response.url()).pathname === '/api/history');
    await page.getByRole('button', { name: /^History/ }).click();
    const listedText = await (await listed).text();
    history = HistoryResponse.parse(JSON.parse(listedText));
    // The history keeps where a summary came from, never the post's text.
    expect(listedText).not.toContain(CHANNEL_POST.slice(0, 40));
    expect(history.jobs.map((job) => job.source.kind).sort()).toEqual(['channel-post', 'link']);
    for (const listedJob of history.jobs) {
      // Billed to the user's TON credit (no free quota), at exactly the worker's receipt.
      expect(listedJob.paidWith).toBe('ton');
      expect(listedJob.cost).toBeGreaterThan(0n);
      expect(listedJob.cost).toBe(verifyReceipt(listedJob.receipt).amount);
    }

    const job = page.locator(`[data-job-id="${jobId}"]`);
    await expect.poll(() => job.getAttribute('data-verdict'), { timeout: 20_000 }).toBe('ok');
    expect(await job.getByRole('img').getAttribute('aria-label')).toBe('receipt verified');
    expect(await job.getByRole('img').textContent()).toBe('✓');
    // The history keeps the link, not the page's content.
    expect(await job.locator('.row-label').first().textContent()).toBe(articleUrl);
    await job.locator('summary').click();
    expect(await job.textContent()).toContain("Signed by the worker's attested key (dev, insecure)");
    await page.screenshot({ path: join(ARTIFACTS, '7-history-verified.png'), fullPage: true });
    await job.locator('summary').click();

    const postJob = history.jobs.find((listed) => listed.source.kind === 'channel-post');
    expect(postJob?.source).toMatchObject({ chatId: CHANNEL.id, messageId: postMessageId });
    const postRow = page.locator(`[data-job-id="${postJob?.jobId}"]`);
    await expect.poll(() => postRow.getAttribute('data-verdict'), { timeout: 20_000 }).toBe('ok');
    expect(await postRow.getByRole('img').getAttribute('aria-label')).toBe('receipt verified');
    expect(await postRow.locator('.row-label').first().textContent()).toBe(
      `Post ${postMessageId} in ${CHANNEL.title}`,
    );
    await postRow.locator('summary').click();
    expect(await postRow.textContent()).toContain('paid from TON credit');
    await page.screenshot({ path: join(ARTIFACTS, '8-history-channel-post-verified.png'), fullPage: true });
  });

  it("settles on chain: the app's charge, the worker's payout and the proxy's commission, to the nanoton", async () => {
    const outbox = network.proxy.settlement;
    if (outbox === undefined) throw new Error('the embedded proxy settles on chain');
    // The outbox ticks on its own; ticking here too settles as soon as the last voucher has arrived.
    await expect
      .poll(
        async () => {
          await outbox.tick();
          const s = await outbox.summary();
          return s.metered > 0n && s.signed === s.metered && s.charged === s.signed && s.paid === s.earned;
        },
        { timeout: 30_000, interval: 250 },
      )
      .toBe(true);
    const summary = await outbox.summary();
    expect(summary.unconfirmed).toBe(0);
    const billed = (history?.jobs ?? []).reduce((sum, job) => sum + job.cost, 0n);

    // What the app's client account signed (its latest voucher, kept in the data folder) is what it billed
    // its users, and what the proxy holds: the app is the only client that ran jobs.
    const voucher = await new FileVoucherStore(join(dir, 'data', 'app-vouchers.json')).load();
    expect(voucher?.contract).toBe(Address.parse(network.appAccount.contract).toRawString());
    expect(voucher?.total).toBe(billed);
    expect(summary.signed).toBe(billed);

    // The app's Client contract: charged exactly the signed total; its deposit moved by the top-up's credit
    // and the charge, nothing else.
    const client = await appClientContract().getState();
    const charge = client.chargedTotal - atStart.client.chargedTotal;
    expect(charge).toBe(billed);
    expect(summary.charged).toBe(charge);
    expect(client.balance).toBe(atStart.client.balance + topUpCredit(ONE_TON) - charge);
    expect(client.stake).toBe(atStart.client.stake);
    const proxyHistory = chain.history(network.link.proxy);
    expect(sumOf(amountsFrom(proxyHistory, appClientContract().address, Op.clientPayment))).toBe(charge);

    // The worker: its contract paid exactly what the proxy's ledger says it earned, at the Root's rates.
    const params = await network.root.getParams();
    expect(summary.earned).toBe((summary.metered * params.workerFeePerToken) / params.pricePerToken);
    const workerContract = chain.open(
      WorkerContract.createFromAddress(await proxyContract().getWorkerAddress(payoutAddress)),
    );
    const { paidTotal } = await workerContract.getState();
    expect(paidTotal).toBe(summary.earned);
    const payoutRequests = amountsFrom(proxyHistory, workerContract.address, Op.payoutRequest);
    expect(sumOf(payoutRequests)).toBe(paidTotal);
    // The payout address holds that, plus what each payout message's gas left over.
    const received = await chain.getBalance(payoutAddress);
    expect(received).toBeGreaterThanOrEqual(paidTotal);
    expect(received - paidTotal).toBeLessThan(BigInt(payoutRequests.length) * Value.payout);

    // The Proxy contract keeps the charge less the payout: its commission.
    const proxy = await proxyContract().getState();
    expect(proxy.balance - atStart.proxy.balance).toBe(charge - paidTotal);
    expect(summary.commission).toBe(charge - paidTotal);
    expect(proxy.stake).toBe(atStart.proxy.stake);

    // The user's ledger: the credited top-up less what the two jobs' receipts billed.
    const { page } = app;
    const me = page.waitForResponse((response) => new URL(response.url()).pathname === '/api/me');
    await pressBack(page);
    expect(MeResponse.parse(await (await me).json()).balance.ton).toBe(topUpCredit(ONE_TON) - billed);
    await expect
      .poll(() => page.getByTestId('balance').textContent())
      .toContain(tonBelowOne(topUpCredit(ONE_TON) - billed, 4));
    await page.screenshot({ path: join(ARTIFACTS, '9-home-after-settlement.png'), fullPage: true });
  });

  it("shows each job's settlement: the Charge transaction on the app's Client contract that covered its voucher", async () => {
    // The app's chain watcher settles the jobs from the Charge transactions it sees (it polls on its own).
    const jobs = await SqlBotStore.open(network.store as never);
    const settledJobs = async () =>
      (await jobs.recentJobs(USER.id, 10)).filter((job) => job.proof?.settlement);
    await expect.poll(async () => (await settledJobs()).length, { timeout: 30_000, interval: 250 }).toBe(2);

    // The Charges the app's Client contract accepted, in chain order; the last one charged all that was billed.
    const client = appClientContract().address;
    const charges = chain
      .history(client)
      .map((tx) => chargeOf(tx, client))
      .filter((charge): charge is ChargeEvent => charge !== undefined);
    const billed = (history?.jobs ?? []).reduce((sum, job) => sum + job.cost, 0n);
    expect(charges.at(-1)?.total).toBe(billed);
    // Each job is settled by the first Charge of at least the total the app signed after its receipt.
    const expected = new Map<string, { lt: string; hash: string }>();
    for (const job of await settledJobs()) {
      const voucherTotal = job.proof?.voucherTotal;
      expect(voucherTotal).toBeGreaterThan(0n);
      const covering = charges.find((charge) => charge.total >= (voucherTotal ?? 0n));
      expect(covering).toBeDefined();
      expected.set(job.proof?.jobId ?? '', { lt: covering?.lt ?? '', hash: covering?.hash ?? '' });
    }

    const { page } = app;
    const listed = page.waitForResponse((response) => new URL(response.url()).pathname === '/api/history');
    await page.getByRole('button', { name: /^History/ }).click();
    const settledHistory = HistoryResponse.parse(await (await listed).json());
    expect(settledHistory.jobs).toHaveLength(2);
    for (const job of settledHistory.jobs) {
      expect(job.settlement).toEqual(expected.get(job.jobId));
      const hash = job.settlement?.hash ?? '';
      const row = page.locator(`[data-job-id="${job.jobId}"]`);
      await row.locator('summary').click();
      await expect.poll(() => row.textContent()).toContain(`${hash.slice(0, 6)}…${hash.slice(-6)}`);
      expect(await row.textContent()).toContain(`lt ${job.settlement?.lt}`);
      expect(await row.textContent()).not.toContain('not settled yet');
    }
    await page.screenshot({ path: join(ARTIFACTS, '10-history-settled.png'), fullPage: true });
  });
});

/**
 * The amounts of the messages of one kind (`op`, then a query id and the amount) that `from` sent in
 * `transactions` and that took effect: a transaction that aborted moved nothing.
 */
function amountsFrom(transactions: readonly Transaction[], from: Address, op: number): bigint[] {
  const amounts: bigint[] = [];
  for (const tx of transactions) {
    const info = tx.inMessage?.info;
    if (info?.type !== 'internal' || !info.src.equals(from)) continue;
    if (tx.description.type !== 'generic' || tx.description.aborted) continue;
    const body = tx.inMessage?.body.beginParse();
    if (body === undefined || body.remainingBits < 32 || body.loadUint(32) !== op) continue;
    body.loadUintBig(64); // the query id
    amounts.push(body.loadCoins());
  }
  return amounts;
}

const sumOf = (amounts: readonly bigint[]) => amounts.reduce((sum, amount) => sum + amount, 0n);
