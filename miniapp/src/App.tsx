import { lazy, Suspense, useCallback, useMemo, useState } from 'react';
import { createApi } from './api.js';
import { Channels } from './pages/Channels.js';
import { Home } from './pages/Home.js';
import { PAGE_TITLES, type Page } from './pages/pages.js';
import { Reader } from './pages/Reader.js';
import { useBackButton } from './telegram.js';

// Verification (DCAP, TON cells) and TonConnect are most of the code: loaded with the pages that use them.
const History = lazy(() => import('./pages/History.js').then(({ History }) => ({ default: History })));
const Network = lazy(() => import('./pages/Network.js').then(({ Network }) => ({ default: Network })));
const TopUp = lazy(() => import('./pages/TopUp.js').then(({ TopUp }) => ({ default: TopUp })));

export function App({ initDataRaw }: { initDataRaw: string }) {
  const api = useMemo(() => createApi(initDataRaw), [initDataRaw]);
  const [page, setPage] = useState<Page>('home');
  const goHome = useCallback(() => setPage('home'), []);
  useBackButton(page === 'home' ? undefined : goHome);

  return (
    <main className="app" data-page={page}>
      {page === 'home' ? null : <h1 className="page-title">{PAGE_TITLES[page]}</h1>}
      <Suspense fallback={<p className="placeholder">Loading…</p>}>
        {page === 'home' ? <Home api={api} open={setPage} /> : null}
        {page === 'topup' ? <TopUp api={api} /> : null}
        {page === 'history' ? <History api={api} /> : null}
        {page === 'channels' ? <Channels api={api} /> : null}
        {page === 'reader' ? <Reader api={api} /> : null}
        {page === 'network' ? <Network api={api} /> : null}
      </Suspense>
    </main>
  );
}

export function OutsideTelegram() {
  return (
    <main className="app">
      <div className="placeholder">
        <h1>Open Cocoon in Telegram</h1>
        <p>This Mini App needs Telegram's launch data to know who you are.</p>
      </div>
    </main>
  );
}
