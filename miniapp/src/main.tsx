import './polyfills.js';
import './mockEnv.js';
import './styles.css';
import { retrieveLaunchParams } from '@telegram-apps/sdk-react';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App, OutsideTelegram } from './App.js';
import { initTelegram } from './telegram.js';

const container = document.getElementById('root');
if (container === null) throw new Error('index.html has no #root');
const root = createRoot(container);

try {
  const launchParams = retrieveLaunchParams();
  const debug = import.meta.env.DEV || launchParams.tgWebAppStartParam === 'debug';
  const initDataRaw = initTelegram(debug);
  root.render(
    <StrictMode>
      <App initDataRaw={initDataRaw} />
    </StrictMode>,
  );
} catch (error) {
  console.error('not started inside Telegram', error);
  root.render(<OutsideTelegram />);
}
