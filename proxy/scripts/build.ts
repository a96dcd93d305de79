/**
 * Bundles `cocoon-proxy` for plain Node: `npm run build -w @cocoon/proxy` writes dist/cocoon-proxy.mjs, its
 * source map, and the list of sources it was built from (bin/bundle-freshness.js compares their times with
 * the bundle's). The workspace packages' TypeScript is bundled in; every third-party package stays external
 * and is resolved from node_modules at run time (PGlite finds its wasm and data files beside its own code),
 * so the bundle works only inside a checkout, as the bin that runs it does. It holds no absolute path: a
 * checkout moved elsewhere keeps a working, fresh bundle.
 */
import { readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { inputsFileOf } from '../bin/bundle-freshness.js';

export const proxyDir = fileURLToPath(new URL('..', import.meta.url));
const workspaceDir = dirname(proxyDir);
const defaultOutFile = join(proxyDir, 'dist', 'cocoon-proxy.mjs');
/** The folder, beside the bundle, of the chunks it imports on demand. */
const CHUNKS = 'chunks';
/**
 * Every output file (the bundle and its chunks, all below a package's dist/ folder) finds the workspace from
 * its own location, so the sources' own URLs below hold no absolute path.
 */
const WORKSPACE_URL = '__cocoonWorkspaceUrl';
const workspaceUrlBanner = `const ${WORKSPACE_URL} = new URL('../', import.meta.url.slice(0, import.meta.url.lastIndexOf('/dist/') + 1));`;

/**
 * Bundles only the workspace's own sources: a bare import other than `@cocoon/*` is a third-party package
 * (or a Node built-in) and stays an import. `#…` imports go to esbuild, which applies the package's
 * "imports" map with the `node` condition (platform node).
 */
const workspaceOnly: Plugin = {
  name: 'workspace-only',
  setup(builder) {
    builder.onResolve({ filter: /^[^./#]/ }, (args) =>
      args.path.startsWith('@cocoon/') ? undefined : { path: args.path, external: true },
    );
    // A source that finds files beside itself (contracts' build/ and fixtures/, PGlite's entry point) does
    // so from its own `import.meta.url`: keep that its own file's URL, not the bundle's.
    builder.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const ownUrl = `new URL(${JSON.stringify(relative(workspaceDir, args.path))}, ${WORKSPACE_URL}).href`;
      return { contents: source.replaceAll('import.meta.url', ownUrl), loader: 'ts' };
    });
  },
};

/**
 * Bundles `entry` (default: src/main.ts) into `outFile` (ESM for Node 20) with a linked source map
 * without the sources' text (they are in the checkout), and records the files it read: every bundled source
 * and the package.json files whose "imports"/"exports" resolved them.
 */
export async function bundleProxy(
  options: { entry?: string; outFile?: string } = {},
): Promise<{ outFile: string; inputs: string[] }> {
  const entry = resolve(options.entry ?? join(proxyDir, 'src', 'main.ts'));
  const outFile = resolve(options.outFile ?? defaultOutFile);
  if (!outFile.includes('/dist/')) throw new Error(`${outFile}: a bundle is written below a dist/ folder`);
  const startedAt = new Date();
  const outDir = dirname(outFile);
  // Chunks of an earlier build would linger beside new ones: they are this build's own folder.
  await rm(join(outDir, CHUNKS), { recursive: true, force: true });
  const result = await build({
    // Split at dynamic imports, so a module imported only on demand (openChain's sandbox chain) keeps its
    // third-party imports (@ton/sandbox) in its own chunk instead of at the top of the bundle.
    entryPoints: { [basename(outFile, '.mjs')]: entry },
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: `${CHUNKS}/[name]-[hash]`,
    absWorkingDir: workspaceDir,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
    banner: { js: workspaceUrlBanner },
    plugins: [workspaceOnly],
  });
  const sources = Object.keys(result.metafile.inputs).map((path) => join(workspaceDir, path));
  const packageFiles = new Set(
    sources.map((path) => join(workspaceDir, packageFolderOf(path), 'package.json')),
  );
  const inputs = [...sources, ...packageFiles].sort();
  // relative to the list's own folder, as bundleStaleness reads them
  const listed = inputs.map((path) => relative(outDir, path));
  await writeFile(inputsFileOf(outFile), `${JSON.stringify(listed, null, 1)}\n`);
  // Dated from before the sources were read: one saved during the build makes the bundle stale.
  await utimes(outFile, startedAt, startedAt);
  return { outFile, inputs };
}

/** The workspace package folder (`shared`, `proxy`, …) a path under the workspace lies in. */
function packageFolderOf(path: string): string {
  return path.slice(workspaceDir.length + 1).split('/')[0] as string;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { outFile, inputs } = await bundleProxy();
  console.log(`${outFile}: built from ${inputs.length} workspace files`);
}
