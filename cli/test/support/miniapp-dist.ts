// The embedded network serves the Mini App from miniapp/dist: a browser test of the network needs it built
// from the current sources.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { buildMiniApp, MINIAPP_DIR } from '../../../bot/test/app/telegram-host.js';

export const MINIAPP_DIST = join(MINIAPP_DIR, 'dist');

/** What the bundle is built from: the app's sources and the shared package it bundles. */
const SOURCES = [
  MINIAPP_DIR,
  join(MINIAPP_DIR, '../shared/src'),
  join(MINIAPP_DIR, '../shared/package.json'),
];
const BUILD_OUTPUTS = new Set(['dist', 'node_modules', 'test']);

/** Latest modification time (ms) of a file or of any file in a folder, build outputs and tests left out. */
async function newestChange(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    if (BUILD_OUTPUTS.has(entry.name) || entry.name.startsWith('.')) continue;
    newest = Math.max(newest, await newestChange(join(path, entry.name)));
  }
  return newest;
}

/** Builds miniapp/dist when it is missing or older than a source; says whether it built. */
export async function ensureMiniAppBuilt(): Promise<boolean> {
  const built = await stat(join(MINIAPP_DIST, 'index.html')).then(
    (info) => info.mtimeMs,
    () => undefined,
  );
  if (built !== undefined) {
    const sources = await Promise.all(SOURCES.map(newestChange));
    if (Math.max(...sources) <= built) return false;
  }
  await buildMiniApp(MINIAPP_DIST);
  return true;
}
