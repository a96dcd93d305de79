import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleStaleness, inputsFileOf } from '../bin/bundle-freshness.js';
import { bundleProxy, proxyDir } from '../scripts/build.js';

describe('the cocoon-proxy bundle', () => {
  let bundleDir: string;
  beforeAll(async () => {
    // Inside the package, as dist/ is: the bundle's third-party imports resolve from its node_modules.
    await mkdir(join(proxyDir, 'dist'), { recursive: true });
    bundleDir = await mkdtemp(join(proxyDir, 'dist', 'test-'));
  });
  afterAll(async () => {
    await rm(bundleDir, { recursive: true, force: true });
  });

  it('runs main on plain Node with every import resolved, up to its refusals of missing settings', async () => {
    const { outFile, inputs } = await bundleProxy({ outFile: join(bundleDir, 'cocoon-proxy.mjs') });
    expect(inputs).toContain(join(proxyDir, 'src', 'main.ts'));
    // The package.json "imports" resolved to the Node variants.
    expect(inputs.some((path) => path.endsWith('shared/src/crypto/primitives-node.ts'))).toBe(true);
    expect(inputs.some((path) => path.endsWith('shared/src/ed25519-node.ts'))).toBe(true);
    // No absolute path of this checkout: moved elsewhere, the bundle still runs and is still fresh.
    const workspaceDir = dirname(proxyDir);
    for (const file of [
      outFile,
      inputsFileOf(outFile),
      ...(await readdir(join(bundleDir, 'chunks'), { recursive: true }))
        .map((name) => join(bundleDir, 'chunks', name))
        .filter((path) => path.endsWith('.mjs')),
    ])
      expect(await readFile(file, 'utf8'), file).not.toContain(workspaceDir);
    expect(bundleStaleness(outFile)).toBeUndefined();

    const { ROOT_ADDRESS: _root, COCOON_CONFIG: _config, NODE_OPTIONS: _options, ...env } = process.env;
    // cwd: a folder without a cocoon.env for the config to read.
    const runBundle = (settings: Record<string, string> = {}) =>
      new Promise<{ code: unknown; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [outFile],
          { env: { ...env, ...settings }, cwd: bundleDir, timeout: 20_000 },
          (error, _out, stderr) => resolve({ code: error === null ? 0 : error.code, stderr }),
        );
      });
    const noRoot = await runBundle();
    expect(noRoot.stderr).toContain('ROOT_ADDRESS is not set');
    expect(noRoot.code).toBe(2);

    // Half a TLS setup is refused before anything is opened.
    const halfTls = await runBundle({
      ROOT_ADDRESS: 'EQ-root',
      PROXY_TLS_CERT_FILE: join(bundleDir, 'cert.pem'),
    });
    expect(halfTls.stderr).toContain('PROXY_TLS_CERT_FILE and PROXY_TLS_KEY_FILE go together');
    expect(halfTls.code).toBe(2);
  });
});

describe('the choice of the bin between the bundle and tsx', () => {
  let dir: string;
  let bundle: string;
  let source: string;
  const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));

  beforeAll(async () => {
    dir = await mkdtemp(join(os.tmpdir(), 'cocoon-proxy-bin-'));
    bundle = join(dir, 'cocoon-proxy.mjs');
    source = join(dir, 'main.ts');
    await writeFile(source, '');
    await writeFile(inputsFileOf(bundle), JSON.stringify([source]));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('picks tsx while there is no bundle', () => {
    expect(bundleStaleness(bundle)).toBe(`${bundle} is missing`);
  });

  it('runs the bundle when it is as new as its sources, and tsx once a source is newer', async () => {
    await writeFile(bundle, '');
    await utimes(source, at(0), at(0));
    await utimes(bundle, at(0), at(0));
    expect(bundleStaleness(bundle)).toBeUndefined();

    await utimes(source, at(1), at(1));
    expect(bundleStaleness(bundle)).toBe(`${source} is newer than ${bundle}`);
  });

  it('picks tsx when a source is gone or the list of sources is unreadable', async () => {
    await writeFile(inputsFileOf(bundle), JSON.stringify([join(dir, 'removed.ts')]));
    expect(bundleStaleness(bundle)).toContain('removed.ts, one of the sources');
    await writeFile(inputsFileOf(bundle), '{');
    expect(bundleStaleness(bundle)).toContain('the list of its sources, is missing or unreadable');
  });
});
