// Outside Telegram, in dev mode only: imitate the Telegram client so the app runs in a plain browser. The
// initData is signed here for a demo user with the dev bot token that `npm run dev:api` also uses; a
// production build drops this code (import.meta.env.DEV is false there).
import { signInitData } from '@cocoon/shared/protocol/app-api';
import { emitEvent, isTMA, mockTelegramEnv, type ThemeParams } from '@telegram-apps/sdk-react';

const LIGHT = {
  accent_text_color: '#2481cc',
  bg_color: '#ffffff',
  button_color: '#2481cc',
  button_text_color: '#ffffff',
  destructive_text_color: '#d14e4e',
  header_bg_color: '#ffffff',
  hint_color: '#8e8e93',
  link_color: '#2481cc',
  secondary_bg_color: '#efeff3',
  section_bg_color: '#ffffff',
  section_header_text_color: '#6d6d72',
  subtitle_text_color: '#8e8e93',
  text_color: '#000000',
} as const;

const DARK = {
  accent_text_color: '#6ab2f2',
  bg_color: '#17212b',
  button_color: '#5288c1',
  button_text_color: '#ffffff',
  destructive_text_color: '#ec3942',
  header_bg_color: '#17212b',
  hint_color: '#708499',
  link_color: '#6ab3f3',
  secondary_bg_color: '#232e3c',
  section_bg_color: '#17212b',
  section_header_text_color: '#6ab3f3',
  subtitle_text_color: '#708499',
  text_color: '#f5f5f5',
} as const;

if (import.meta.env.DEV && !(await isTMA('complete'))) {
  const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
  const themeParams: Record<string, `#${string}`> = dark ? DARK : LIGHT;
  const noInsets = { left: 0, top: 0, bottom: 0, right: 0 } as const;
  const botToken = import.meta.env.VITE_DEV_BOT_TOKEN ?? '1:cocoon-dev-bot-token';
  const initData = signInitData(
    {
      auth_date: String(Math.floor(Date.now() / 1000)),
      query_id: 'dev',
      user: JSON.stringify({ id: 7_770_001, first_name: 'Ada', username: 'ada', language_code: 'en' }),
      // Telegram's Ed25519 signature for third parties: the SDK requires the field; the server checks the HMAC.
      signature: 'dev',
    },
    botToken,
  );
  mockTelegramEnv({
    onEvent(event) {
      if (event[0] === 'web_app_request_theme') {
        return emitEvent('theme_changed', { theme_params: themeParams as ThemeParams });
      }
      if (event[0] === 'web_app_request_viewport') {
        return emitEvent('viewport_changed', {
          height: window.innerHeight,
          width: window.innerWidth,
          is_expanded: true,
          is_state_stable: true,
        });
      }
      if (event[0] === 'web_app_request_content_safe_area')
        return emitEvent('content_safe_area_changed', noInsets);
      if (event[0] === 'web_app_request_safe_area') return emitEvent('safe_area_changed', noInsets);
    },
    launchParams: new URLSearchParams([
      ['tgWebAppThemeParams', JSON.stringify(themeParams)],
      ['tgWebAppData', initData],
      ['tgWebAppVersion', '8.0'],
      ['tgWebAppPlatform', 'tdesktop'],
    ]),
  });
  console.info('Telegram environment mocked for development: demo user 7770001');
}
