// A fake Telegram host for the built Mini App in headless Chromium (Debian's `chromium`; COCOON_CHROMIUM picks
// another): launch parameters in the URL hash with initData signed by a test bot token, and a
// TelegramWebviewProxy that answers the SDK's requests and records the methods the app calls. Shared by the
// Mini App's browser tests here and the end-to-end test of the whole network in cli/.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { signInitData } from '@cocoon/shared/protocol/app-api';
import { type Browser, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM = process.env.COCOON_CHROMIUM ?? '/usr/bin/chromium';
export const MINIAPP_DIR = fileURLToPath(new URL('../../../miniapp', import.meta.url));

export const THEMES = {
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
export type Theme = keyof typeof THEMES;

/** Builds the Mini App with Vite into `outDir`. */
export async function buildMiniApp(outDir: string): Promise<void> {
  await promisify(execFile)(
    fileURLToPath(new URL('../../../node_modules/.bin/vite', import.meta.url)),
    ['build', '--outDir', outDir, '--emptyOutDir'],
    { cwd: MINIAPP_DIR },
  );
}

/** Headless Chromium with nothing running in the background (no updates, sync or QUIC probes). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  return chromium.launch({
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
}

/** The parameters of `web_app_setup_main_button`, as the SDK sends them. */
export interface MainButtonState {
  is_visible?: boolean;
  is_active?: boolean;
  text?: string;
}

export interface TelegramUser {
  id: number;
  first_name: string;
  username?: string;
}

export interface OpenInTelegramOptions {
  /** The app's origin (http://host:port). */
  url: string;
  botToken: string;
  user: TelegramUser;
  theme?: Theme;
  /** Uncaught errors in the page are pushed here (a test fails on any). */
  pageErrors: string[];
  /** Runs on the new page before it navigates (routes, init scripts). */
  beforeOpen?: (page: Page) => Promise<void>;
}

export interface TelegramPage {
  page: Page;
  /** Every Mini Apps method the app called, in order. */
  methods: string[];
  /** Every state the app gave Telegram's main button, in order. */
  mainButton: MainButtonState[];
}

/** Opens the app as Telegram would, recording the Mini Apps methods it calls. */
export async function openInTelegram(
  browser: Browser,
  options: OpenInTelegramOptions,
): Promise<TelegramPage> {
  const theme = options.theme ?? 'light';
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    colorScheme: theme,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (error) => options.pageErrors.push(error.message));
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
      user: JSON.stringify(options.user),
      // Telegram's Ed25519 signature for third parties: the SDK requires the field; the server checks the HMAC.
      signature: 'e2e-test-has-no-telegram-signature',
    },
    options.botToken,
  );
  const hash = new URLSearchParams([
    ['tgWebAppData', initData],
    ['tgWebAppVersion', '8.0'],
    ['tgWebAppPlatform', 'ios'],
    ['tgWebAppThemeParams', JSON.stringify(THEMES[theme])],
  ]);
  await options.beforeOpen?.(page);
  await page.goto(`${options.url}/#${hash}`);
  return { page, methods, mainButton };
}

/** Waits until Telegram's main button shows `text` and is enabled. */
export async function mainButtonReady(states: MainButtonState[], text: string): Promise<void> {
  await expect
    .poll(() => {
      const last = states.at(-1);
      return last?.is_visible === true && last.is_active === true ? last.text : undefined;
    })
    .toBe(text);
}

/** What the Telegram client sends when the user taps its back or main button. */
export const telegramEvent = (page: Page, type: 'back_button_pressed' | 'main_button_pressed') =>
  page.evaluate(
    (eventType) =>
      (
        window as unknown as { Telegram: { WebView: { receiveEvent: (type: string) => void } } }
      ).Telegram.WebView.receiveEvent(eventType),
    type,
  );
export const pressBack = (page: Page) => telegramEvent(page, 'back_button_pressed');
