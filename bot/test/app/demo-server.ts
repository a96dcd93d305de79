// The Mini App's API with demo data, for `npm run dev -w @cocoon/miniapp` (whose mock environment signs
// initData with the same dev token). Serves miniapp/dist too when it was built. Never for production.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createAppServer } from '../../src/app/index.js';
import { createDemo } from './demo.js';

const port = Number(process.env.COCOON_APP_PORT ?? 8490);
const botToken = process.env.VITE_DEV_BOT_TOKEN ?? '1:cocoon-dev-bot-token';
const dist = fileURLToPath(new URL('../../../miniapp/dist', import.meta.url));

const demo = await createDemo(Math.floor(Date.now() / 1000));
const app = createAppServer({
  ...demo.options,
  botToken,
  publicUrl: `http://127.0.0.1:${port}`,
  ...(existsSync(`${dist}/index.html`) ? { staticDir: dist } : {}),
});
app.listen(port, '127.0.0.1', () => {
  console.info(`demo Mini App API on http://127.0.0.1:${port} (dev bot token ${botToken})`);
});
