// The built Mini App in headless Chromium (Debian's `chromium`; set COCOON_CHROMIUM to use another), served
// by the app server with demo data, inside a fake Telegram host: launch parameters in the URL hash with
// initData signed by the test bot token, and a TelegramWebviewProxy that answers the SDK's requests.
// Screenshots of each screen in light and dark themes go to test-results/miniapp/.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateSigningKeyPair, sha256, signBytes, toHex } from '@cocoon/shared';
import { CLIENT_TOP_UP_OP, signInitData } from '@cocoon/shared/protocol/app-api';
import { beginCell, Cell } from '@ton/core';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAppServer } from '../../src/app/index.js';
import { createDemo, DEMO_CONTRACT, DEMO_USER, type Demo } from './demo.js';

const CHROMIUM = process.env.COCOON_CHROMIUM ?? '/usr/bin/chromium';
const BOT_TOKEN = '424242:e2e-test-bot-token';
const MINIAPP = fileURLToPath(new URL('../../../miniapp', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../test-results/miniapp', import.meta.url));

const THEMES = {
  light: {
    bg_color: '#ffffff',
    secondary_bg_color: '#efeff3',
    section_bg_color: '#ffffff',
    text_color: '#000000',
    hint_color: '#8e8e93',
    link_color: '#2481cc',
    accent_text_color: '#2481cc',
    button_color: '#2481cc',
    button_text_color: '#ffffff',
    section_header_text_color: '#6d6d72',
    destructive_text_color: '#d14e4e',
    header_bg_color: '#ffffff',
  },
  dark: {
    bg_color: '#17212b',
    secondary_bg_color: '#0e1621',
    section_bg_color: '#17212b',
    text_color: '#f5f5f5',
    hint_color: '#708499',
    link_color: '#6ab3f3',
    accent_text_color: '#6ab2f2',
    button_color: '#5288c1',
    button_text_color: '#ffffff',
    section_header_text_color: '#6ab3f3',
    destructive_text_color: '#ec3942',
    header_bg_color: '#17212b',
  },
} as const;
type Theme = keyof typeof THEMES;

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
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  dist = await mkdtemp(join(tmpdir(), 'cocoon-miniapp-'));
  await promisify(execFile)(
    join(MINIAPP, '../node_modules/.bin/vite'),
    ['build', '--outDir', dist, '--emptyOutDir'],
    {
      cwd: MINIAPP,
    },
  );
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
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  await mkdir(ARTIFACTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  if (dist !== undefined) await rm(dist, { recursive: true, force: true });
});

/** Opens the app as Telegram would, recording the Mini Apps methods it calls. */
async function openApp(
  theme: Theme,
  botToken = BOT_TOKEN,
  beforeOpen?: (page: Page) => Promise<void>,
): Promise<{ page: Page; methods: string[]; mainButton: MainButtonState[] }> {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    colorScheme: theme,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  // An uncaught error in the app fails the test that opened it, with the error's message.
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const methods: string[] = [];
  const mainButton: MainButtonState[] = [];
  await page.exposeFunction('recordTelegramMethod', (name: string, data?: string) => {
    methods.push(name);
    if (name === 'web_app_setup_main_button' && data !== undefined) mainButton.push(JSON.parse(data));
  });
  await page.addInitScript((themeParams) => {
    const scope = window as unknown as Record<string, unknown> & {
      Telegram?: { WebView?: { receiveEvent?: (type: string, data?: unknown) => void } };
      recordTelegramMethod: (name: string, data?: string) => void;
    };
    const emit = (type: string, data?: unknown) =>
      setTimeout(() => scope.Telegram?.WebView?.receiveEvent?.(type, data), 0);
    scope.TelegramWebviewProxy = {
      postEvent(type: string, data?: string) {
        scope.recordTelegramMethod(type, data);
        if (type === 'web_app_request_theme') emit('theme_changed', { theme_params: themeParams });
        if (type === 'web_app_request_viewport') {
          emit('viewport_changed', {
            height: window.innerHeight,
            width: window.innerWidth,
            is_expanded: true,
            is_state_stable: true,
          });
        }
        const insets = { top: 0, bottom: 0, left: 0, right: 0 };
        if (type === 'web_app_request_safe_area') emit('safe_area_changed', insets);
        if (type === 'web_app_request_content_safe_area') emit('content_safe_area_changed', insets);
      },
    };
  }, THEMES[theme]);
  const initData = signInitData(
    {
      auth_date: String(Math.floor(Date.now() / 1000)),
      query_id: 'e2e',
      user: JSON.stringify(DEMO_USER),
      // Telegram's Ed25519 signature for third parties: the SDK requires the field; the server checks the HMAC.
      signature: 'e2e-test-has-no-telegram-signature',
    },
    botToken,
  );
  const hash = new URLSearchParams([
    ['tgWebAppData', initData],
    ['tgWebAppVersion', '8.0'],
    ['tgWebAppPlatform', 'ios'],
    ['tgWebAppThemeParams', JSON.stringify(THEMES[theme])],
  ]);
  await beforeOpen?.(page);
  await page.goto(`${base}/#${hash}`);
  return { page, methods, mainButton };
}

/** The parameters of `web_app_setup_main_button`, as the SDK sends them. */
interface MainButtonState {
  is_visible?: boolean;
  is_active?: boolean;
  text?: string;
}

/** Waits until Telegram's main button shows `text` and is enabled. */
async function mainButtonReady(states: MainButtonState[], text: string): Promise<void> {
  await expect
    .poll(() => {
      const last = states.at(-1);
      return last?.is_visible === true && last.is_active === true ? last.text : undefined;
    })
    .toBe(text);
}

/** What the Telegram client sends when the user taps its back or main button. */
const telegramEvent = (page: Page, type: 'back_button_pressed' | 'main_button_pressed') =>
  page.evaluate(
    (eventType) =>
      (
        window as unknown as { Telegram: { WebView: { receiveEvent: (type: string) => void } } }
      ).Telegram.WebView.receiveEvent(eventType),
    type,
  );
const pressBack = (page: Page) => telegramEvent(page, 'back_button_pressed');

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
        await page.waitForLoadState('networkidle');
        await page.screenshot({ path: join(ARTIFACTS, `${name}-${theme}.png`), fullPage: true });
      }
    } finally {
      await page.context().close();
    }
  }, 30_000);
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
async function injectTestWallet(page: Page, transfers: TonConnectTransfer[]): Promise<void> {
  const key = generateSigningKeyPair();
  const address = `0:${toHex(sha256(key.publicKey))}`;
  await page.exposeFunction('signTestTransfer', (requestJson: string) => {
    const request = JSON.parse(requestJson) as TonConnectTransfer;
    transfers.push(request);
    const transfer = beginCell().storeUint(request.valid_until, 32).storeStringRefTail(requestJson).endCell();
    return beginCell()
      .storeBuffer(Buffer.from(signBytes(transfer.hash(), key.secretKey)))
      .storeRef(transfer)
      .endCell()
      .toBoc()
      .toString('base64');
  });
  const stateInit = beginCell()
    .storeUint(0, 2)
    .storeBit(1)
    .storeRef(beginCell().endCell())
    .storeBit(0)
    .endCell();
  await page.addInitScript(
    ({ address, publicKey, walletStateInit }) => {
      const device = {
        platform: 'browser',
        appName: 'cocoontestwallet',
        appVersion: '1.0.0',
        maxProtocolVersion: 2,
        features: ['SendTransaction', { name: 'SendTransaction', maxMessages: 4 }],
      };
      let connected = false;
      const connectEvent = (id: number) => ({
        event: 'connect',
        id,
        payload: {
          items: [{ name: 'ton_addr', address, network: '-239', publicKey, walletStateInit }],
          device,
        },
      });
      const sign = (window as unknown as { signTestTransfer: (json: string) => Promise<string> })
        .signTestTransfer;
      // TonConnect takes injected wallets from its wallets list by bridge key: the test wallet uses Tonkeeper's.
      (window as unknown as Record<string, unknown>).tonkeeper = {
        tonconnect: {
          deviceInfo: device,
          walletInfo: {
            name: 'Cocoon Test Wallet',
            app_name: 'cocoontestwallet',
            image: `${location.origin}/icon.png`,
            about_url: location.origin,
            platforms: ['chrome'],
          },
          protocolVersion: 2,
          isWalletBrowser: true,
          connect: async () => {
            connected = true;
            return connectEvent(1);
          },
          restoreConnection: async () =>
            connected
              ? connectEvent(2)
              : { event: 'connect_error', id: 2, payload: { code: 0, message: 'not connected' } },
          send: async (request: { method: string; params: string[]; id: string }) => {
            if (request.method === 'sendTransaction') {
              return { result: await sign(request.params[0] ?? '{}'), id: request.id };
            }
            if (request.method === 'disconnect') {
              connected = false;
              return { result: {}, id: request.id };
            }
            return { error: { code: 400, message: `unsupported ${request.method}` }, id: request.id };
          },
          listen: () => () => {},
        },
      };
    },
    { address, publicKey: toHex(key.publicKey), walletStateInit: stateInit.toBoc().toString('base64') },
  );
}

interface TonConnectTransfer {
  valid_until: number;
  messages: { address: string; amount: string; payload?: string }[];
}

it("tops up through TonConnect: pending on the wallet's word, confirmed only by the chain credit", async () => {
  const transfers: TonConnectTransfer[] = [];
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
