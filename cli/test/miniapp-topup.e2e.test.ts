// The Mini App against the whole embedded network, in headless Chromium inside a fake Telegram host (signed
// initData): a wallet with real keys, injected through TonConnect's JS bridge, connects and tops up 1 TON by a
// signed external message on the sandbox chain; the balance rises only once the chain watcher credits it; the
// Reader summarizes a page from a loopback server through the proxy and a llama.cpp worker; the history shows
// that job with its receipt verified in the browser. Screenshots of each step go to test-results/network-e2e/.
// The only edge served by the test is TonConnect's wallets list (config.ton.org): every other request that
// leaves loopback is refused and recorded.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createArticleReader } from '@cocoon/bot';
import { ClientContract, SandboxChain, topUpCredit } from '@cocoon/contracts';
import { loadConfig } from '@cocoon/shared';
import { createLogger } from '@cocoon/shared/log';
import { CLIENT_TOP_UP_OP, ReaderResponse } from '@cocoon/shared/protocol/app-api';
import { writeTinyGguf } from '@cocoon/worker/testing';
import { Address, Cell } from '@ton/core';
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
import { RecordingBotApi } from '../../bot/test/support/bot-api.js';
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

const log = createLogger('test', 'silent');
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
/** Requests the page made beyond loopback. */
const outside: string[] = [];
const pageErrors: string[] = [];

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

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
  network = await startNetwork({
    config: loadConfig({
      BOT_TOKEN: botApi.token,
      COCOON_DATA_DIR: join(dir, 'data'),
      COCOON_MODEL: tiny.path,
      WORKER_GPU: 'cpu',
      WORKER_THREADS: '1',
    }),
    log,
    ports: { proxy: 0, gateway: 0, workerStatus: null, app: 0, chainRpc: 0 },
    botApiRoot: botApi.apiRoot,
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
  await botApi?.close();
  if (pages !== undefined) await new Promise((resolve) => pages.close(resolve));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

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
    const appContract = chain.open(
      ClientContract.createFromAddress(Address.parse(network.appAccount.contract)),
    );
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

  it('lists the job in the history with its receipt verified in the browser', async () => {
    const { page } = app;
    await pressBack(page);
    await page.getByRole('button', { name: /^History/ }).click();
    const job = page.locator(`[data-job-id="${jobId}"]`);
    await expect.poll(() => job.getAttribute('data-verdict'), { timeout: 20_000 }).toBe('ok');
    expect(await job.getByRole('img').getAttribute('aria-label')).toBe('receipt verified');
    expect(await job.getByRole('img').textContent()).toBe('✓');
    // The history keeps the link, not the page's content.
    expect(await job.locator('.row-label').first().textContent()).toBe(articleUrl);
    await job.locator('summary').click();
    expect(await job.textContent()).toContain("Signed by the worker's attested key (dev, insecure)");
    await page.screenshot({ path: join(ARTIFACTS, '7-history-verified.png'), fullPage: true });
  });
});
