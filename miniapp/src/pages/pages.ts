export type Page = 'home' | 'topup' | 'history' | 'channels' | 'reader' | 'network';

export const PAGE_TITLES: Record<Page, string> = {
  home: 'Cocoon',
  topup: 'Top up',
  history: 'History',
  channels: 'Channels',
  reader: 'Reader',
  network: 'Network',
};
