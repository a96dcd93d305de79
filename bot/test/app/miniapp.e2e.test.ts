// The built Mini App in headless Chromium (Debian's `chromium`; set COCOON_CHROMIUM to use another), served
// by the app server with demo data, inside a fake Telegram host: launch parameters in the URL hash with
// initData signed by the test bot token, and a TelegramWebviewProxy that answers the SDK's requests.
// Screenshots of each screen in light and dark themes go to test-results/miniapp/.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigningKeyPair, sha256, signBytes, toHex } from '@cocoon/shared';
import { CLIENT_TOP_UP_OP } from '@cocoon/shared/protocol/app-api';
import { beginCell, Cell } from '@ton/core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAppServer } from '../../src/app/index.js';
import { createDemo, DEMO_CONTRACT, DEMO_USER, type Demo } from './demo.js';
import {
  buildMiniApp,
  launchChromium,
  mainButtonReady,
  openInTelegram,
  pressBack,
  type TelegramPage,
  type Theme,
  telegramEvent,
} from './telegram-host.js';
import { injectTonConnectWallet, type TransferRequest } from './tonconnect-wallet.js';

const BOT_TOKEN = '424242:e2e-test-bot-token';
const ARTIFACTS = fileURLToPath(new URL('../../test-results/miniapp', import.meta.url));

let browser: Browser;
let server: Server;
let base: string;
let demo: Demo;
let dist: string;
const pageErrors: string[] = [];
afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

beforeAll(async () => {
  dist = await mkdtemp(join(tmpdir(), 'cocoon-miniapp-'));
  await buildMiniApp(dist);
  demo = await createDemo(Math.floor(Date.now() / 1000));
  const app = createAppServer({
    ...demo.options,
    botToken: BOT_TOKEN,
    publicUrl: 'http://127.0.0.1',
    staticDir: dist,
  });
  server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
  await mkdir(ARTIFACTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  if (dist !== undefined) await rm(dist, { recursive: true, force: true });
});

/** Opens the app as Telegram would, as the demo user. */
function openApp(
  theme: Theme,
  botToken = BOT_TOKEN,
  beforeOpen?: (page: Page) => Promise<void>,
): Promise<TelegramPage> {
  return openInTelegram(browser, {
    url: base,
    botToken,
    user: DEMO_USER,
    theme,
    pageErrors,
    ...(beforeOpen === undefined ? {} : { beforeOpen }),
  });
}

describe.each(['light', 'dark'] as const)('Mini App in the %s theme', (theme) => {
  it('shows the balance, verifies receipts and attestations in the browser', async () => {
    const { page, methods } = await openApp(theme);
    try {
      await expect.poll(() => page.locator('[data-testid=balance]').textContent()).toContain('2.5 TON');
      expect(await page.locator('[data-testid=balance]').textContent()).toContain('150 ⭐');
      expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe(theme);
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(background).toBe(theme === 'dark' ? 'rgb(14, 22, 33)' : 'rgb(239, 239, 243)');
      await page.screenshot({ path: join(ARTIFACTS, `home-${theme}.png`), fullPage: true });

      await page.getByRole('button', { name: /^History/ }).click();
      const valid = page.locator(`[data-job-id="${demo.validJobId}"]`);
      const tampered = page.locator(`[data-job-id="${demo.tamperedJobId}"]`);
      await expect.poll(() => valid.getAttribute('data-verdict')).toBe('ok');
      await expect.poll(() => tampered.getAttribute('data-verdict')).toBe('bad');
      expect(await valid.getByRole('img').textContent()).toBe('✓');
      expect(await tampered.getByRole('img').textContent()).toBe('✗');
      await tampered.locator('summary').click();
      expect(await tampered.textContent()).toContain('receipt signature does not verify');
      expect(methods).toContain('web_app_setup_back_button');
      await page.screenshot({ path: join(ARTIFACTS, `history-${theme}.png`), fullPage: true });

      await pressBack(page);
      await page.getByRole('button', { name: /^Network/ }).click();
      const worker = page.locator('[data-worker-id="worker-dev-1"]');
      await expect.poll(() => worker.locator('[data-testid=security]').textContent()).toBe('insecure');
      expect(await worker.getByRole('img').getAttribute('aria-label')).toBe('attestation verified');
      expect(await worker.textContent()).toContain('Dev attestation: no TEE');
      await page.screenshot({ path: join(ARTIFACTS, `network-${theme}.png`), fullPage: true });

      for (const [name, title] of [
        ['topup', 'Top up'],
        ['channels', 'Channels'],
        ['reader', 'Reader'],
      ] as const) {
        await pressBack(page);
        await page.getByRole('button', { name: new RegExp(`^${title}`) }).click();
        await page.locator('.page-title').waitFor();
        // a screenshot of the loaded page; on a busy 2-core CI machine the page's requests can take a while
        await page.waitForLoadState('networkidle', { timeout: 30_000 });
        await page.screenshot({ path: join(ARTIFACTS, `${name}-${theme}.png`), fullPage: true });
      }
    } finally {
      await page.context().close();
    }
  }, 120_000);
});

it('reads a link: the summary on top, then the article', async () => {
  const { page, mainButton } = await openApp('light');
  try {
    await page.getByRole('button', { name: /^Reader/ }).click();
    await page.getByTestId('reader-url').fill('https://example.org/confidential-computing');
    // Telegram's main button carries the action: its press comes from the client as an event.
    await mainButtonReady(mainButton, 'Summarize');
    await telegramEvent(page, 'main_button_pressed');
    await expect.poll(() => page.getByTestId('summary').textContent()).toContain('Attestation proves');
    const order = await page.evaluate(() => {
      const summary = document.querySelector('[data-testid=summary]');
      const article = document.querySelector('article');
      return summary !== null && article !== null && summary.compareDocumentPosition(article);
    });
    expect(order).toBe(4); // Node.DOCUMENT_POSITION_FOLLOWING: the article comes after the summary
    await page.screenshot({ path: join(ARTIFACTS, 'reader-result-light.png'), fullPage: true });
  } finally {
    await page.context().close();
  }
}, 30_000);

it('shows the server refusing initData signed with another bot token', async () => {
  const { page } = await openApp('light', '1:forged');
  try {
    await expect
      .poll(() => page.getByRole('alert').first().textContent())
      .toContain('not signed with this bot token');
  } finally {
    await page.context().close();
  }
}, 30_000);

/**
 * A wallet injected through TonConnect's JS bridge (as a wallet's in-app browser does), signing each transfer
 * with its Ed25519 key; the signed transfer is recorded here instead of reaching a chain.
 */
async function injectTestWallet(page: Page, transfers: TransferRequest[]): Promise<void> {
  const key = generateSigningKeyPair();
  const stateInit = beginCell()
    .storeUint(0, 2)
    .storeBit(1)
    .storeRef(beginCell().endCell())
    .storeBit(0)
    .endCell();
  await injectTonConnectWallet(page, {
    // TonConnect takes injected wallets from its wallets list by bridge key: the test wallet uses Tonkeeper's.
    jsBridgeKey: 'tonkeeper',
    walletInfo: {
      name: 'Cocoon Test Wallet',
      app_name: 'cocoontestwallet',
      image: `${base}/icon.png`,
      about_url: base,
      platforms: ['chrome'],
    },
    connect: async () => ({
      name: 'ton_addr',
      address: `0:${toHex(sha256(key.publicKey))}`,
      network: '-239',
      publicKey: toHex(key.publicKey),
      walletStateInit: stateInit.toBoc().toString('base64'),
    }),
    sendTransaction: async (request) => {
      transfers.push(request);
      const transfer = beginCell()
        .storeUint(request.valid_until, 32)
        .storeStringRefTail(JSON.stringify(request))
        .endCell();
      return beginCell()
        .storeBuffer(Buffer.from(signBytes(transfer.hash(), key.secretKey)))
        .storeRef(transfer)
        .endCell()
        .toBoc()
        .toString('base64');
    },
  });
}

it("tops up through TonConnect: pending on the wallet's word, confirmed only by the chain credit", async () => {
  const transfers: TransferRequest[] = [];
  const { page, mainButton } = await openApp('light', BOT_TOKEN, (page) => injectTestWallet(page, transfers));
  try {
    await page.getByRole('button', { name: /^Top up/ }).click();
    await mainButtonReady(mainButton, 'Connect wallet');
    await telegramEvent(page, 'main_button_pressed'); // the wallet's own browser: TonConnect connects to it directly
    await mainButtonReady(mainButton, 'Top up 1 TON');
    await telegramEvent(page, 'main_button_pressed');
    await expect.poll(() => transfers.length).toBe(1);
    const [message] = transfers[0]?.messages ?? [];
    expect(message).toMatchObject({ address: DEMO_CONTRACT, amount: '1000000000' });
    const body = Cell.fromBoc(Buffer.from(message?.payload ?? '', 'base64'))[0]?.beginParse();
    expect(body?.loadUint(32)).toBe(CLIENT_TOP_UP_OP);
    const queryId = body?.loadUintBig(64) ?? 0n;
    expect(body?.loadBit()).toBe(false);
    expect(body?.loadUintBig(64)).toBe(BigInt(DEMO_USER.id));

    await page.getByText('Waiting for the chain').waitFor();
    await page.waitForTimeout(3500); // a status poll passes: the wallet's answer alone credits nothing
    expect(await page.getByText('Waiting for the chain').count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'topup-pending-light.png'), fullPage: true });

    await demo.store.recordCredit({
      lt: '48400000001',
      hash: 'cd'.repeat(32),
      userId: DEMO_USER.id,
      queryId,
      amount: 996_000_000n,
    });
    await page.getByText('Credited 0.996 TON.').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('.section').first().textContent()).toContain('3.496 TON');
    await page.screenshot({ path: join(ARTIFACTS, 'topup-confirmed-light.png'), fullPage: true });
  } finally {
    await page.context().close();
  }
}, 30_000);
