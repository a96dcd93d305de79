import {
  backButton,
  hapticFeedback,
  initData,
  init as initSdk,
  mainButton,
  miniApp,
  retrieveRawInitData,
  setDebug,
  themeParams,
  viewport,
} from '@telegram-apps/sdk-react';
import { useEffect } from 'react';

/**
 * Starts the SDK the way the Telegram Mini Apps React template does: components mounted where the client
 * supports them, theme parameters and viewport bound to CSS variables (`--tg-theme-*`, `--tg-viewport-*`),
 * and `data-theme` on <html> following the theme's brightness. Returns the raw initData for the API.
 */
export function initTelegram(debug: boolean): string {
  setDebug(debug);
  initSdk();
  backButton.mount.ifAvailable();
  mainButton.mount.ifAvailable();
  initData.restore();
  if (miniApp.mountSync.isAvailable()) {
    themeParams.mountSync();
    miniApp.mountSync();
    themeParams.bindCssVars();
    miniApp.bindCssVars.ifAvailable();
  }
  const applyScheme = () => {
    document.documentElement.dataset.theme = themeParams.isDark() ? 'dark' : 'light';
  };
  applyScheme();
  themeParams.isDark.sub(applyScheme);
  // The viewport answers asynchronously (and some clients never do): the app renders without waiting for it.
  if (viewport.mount.isAvailable()) {
    viewport
      .mount()
      .then(() => viewport.bindCssVars())
      .catch((error: unknown) => console.warn('viewport unavailable', error));
  }
  miniApp.ready.ifAvailable();
  const raw = retrieveRawInitData();
  if (raw === undefined || raw === '') throw new Error('Telegram sent no initData');
  return raw;
}

export const haptic = {
  success: () => hapticFeedback.notificationOccurred.ifAvailable('success'),
  error: () => hapticFeedback.notificationOccurred.ifAvailable('error'),
  tap: () => hapticFeedback.impactOccurred.ifAvailable('light'),
};

/** Shows Telegram's back button while `onBack` is set. */
export function useBackButton(onBack: (() => void) | undefined): void {
  useEffect(() => {
    if (onBack === undefined || !backButton.show.isAvailable()) return;
    backButton.show();
    const off = backButton.onClick(onBack);
    return () => {
      off();
      backButton.hide();
    };
  }, [onBack]);
}

export interface MainButtonParams {
  text: string;
  enabled: boolean;
  loading?: boolean;
  onClick: () => void;
}

/**
 * Drives Telegram's main button while `params` is set; returns false where the client has none, so the
 * page shows its own button instead.
 */
export function useMainButton(params: MainButtonParams | undefined): boolean {
  const available = mainButton.setParams.isAvailable();
  const text = params?.text;
  const enabled = params?.enabled;
  const loading = params?.loading ?? false;
  const onClick = params?.onClick;
  useEffect(() => {
    if (!available || text === undefined || onClick === undefined) return;
    mainButton.setParams({ text, isEnabled: enabled, isLoaderVisible: loading, isVisible: true });
    const off = mainButton.onClick(onClick);
    return () => {
      off();
      mainButton.setParams({ isVisible: false, isLoaderVisible: false });
    };
  }, [available, text, enabled, loading, onClick]);
  return available;
}
