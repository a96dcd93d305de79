/**
 * The memory phase's proxy in a process of its own, as `cocoon-proxy` runs: bench/index.ts bundles this
 * file like the proxy (scripts/build.ts) and runs it on plain Node, so that its RSS is the proxy's alone.
 * Arguments: the folder of an existing store (bench/init-store.ts; ignored with DATABASE_URL), and
 * `tier-up` to let V8 optimise PGlite's wasm (cocoon-proxy keeps it at the baseline tier).
 * Prints one JSON line, {url, model, rssBeforeStoreMb}, once listening; closes and exits when stdin ends.
 */
import { keepWasmAtBaselineTier, openStore } from '@cocoon/shared/store/index';
import type { ProxyDb } from '../src/db.js';
import { startBenchProxy } from './bench-proxy.js';

const [dataDir = '', wasmTier = 'baseline'] = process.argv.slice(2);
const databaseUrl = process.env.DATABASE_URL;
const rssBeforeStoreMb = process.memoryUsage.rss() / 2 ** 20;
if (databaseUrl === undefined && wasmTier !== 'tier-up') keepWasmAtBaselineTier();
const store = await openStore<ProxyDb>({ dataDir, ...(databaseUrl === undefined ? {} : { databaseUrl }) });
const { proxy, model } = await startBenchProxy(store, 'memory');
console.log(JSON.stringify({ url: proxy.url, model, rssBeforeStoreMb }));
process.stdin.resume();
process.stdin.once('end', async () => {
  await proxy.close();
  await store.close();
  process.exit(0);
});
