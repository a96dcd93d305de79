#!/usr/bin/env node
// Runs the bundle (dist/cocoon-proxy.mjs, from `npm run build -w @cocoon/proxy`) on plain Node when it is
// up to date with its sources. Otherwise, as a fallback said so on stderr, runs the TypeScript sources
// through tsx: the same program, with ~70 MB more resident memory and a slower start.
// Source maps stay off (Node's default): the bundle is not minified and names its sources, and mapping
// costs CPU on each stack formatted. NODE_OPTIONS=--enable-source-maps maps stack traces to the .ts files
// (dist/cocoon-proxy.mjs.map; ~1-5 MB more resident).
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleStaleness } from './bundle-freshness.js';

const bundle = fileURLToPath(new URL('../dist/cocoon-proxy.mjs', import.meta.url));
const staleness = bundleStaleness(bundle);
if (staleness === undefined) {
  await import(pathToFileURL(bundle).href);
} else {
  console.error(
    `cocoon-proxy: fallback: running the TypeScript sources through tsx (more memory, slower start) ` +
      `because ${staleness}; build the bundle with \`npm run build -w @cocoon/proxy\``,
  );
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/main.ts', import.meta.url).href);
}
