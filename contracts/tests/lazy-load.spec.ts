// Roles import @cocoon/contracts at start; on testnet/mainnet with a fresh build/ they must not load the TVM
// emulator (@ton/sandbox) or the Tolk compiler (@ton/tolk-js), each a large wasm. Checked in a child process,
// since this test process has loaded both already.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cell } from '@ton/core';
import { defaultConfig } from '@ton/sandbox';
import { getTolkCompilerVersion } from '@ton/tolk-js';
import { describe, expect, it } from 'vitest';
import { buildDir, CONTRACT_NAMES, compileAll, sourcesHash, tolkPackageVersion } from '../src/compile.js';
import { mainnetFeeConfig, withMainnetFeeParams } from '../src/fees.js';

const packageDir = join(import.meta.dirname, '..');

/** Runs `script` (ESM, top-level await) with plain `node --import tsx`; returns the heavy packages it loaded. */
async function heavyPackagesLoadedBy(script: string): Promise<string[]> {
  const report = `
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache)
      .map((path) => /node_modules\\/(@ton\\/(?:sandbox|tolk-js))\\/(?!package\\.json$)/.exec(path)?.[1])
      .filter(Boolean);
    console.log(JSON.stringify([...new Set(loaded)].sort()));`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', `${script}\n${report}`],
    { cwd: packageDir, timeout: 60_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as string[];
}

describe('@cocoon/contracts loads @ton/sandbox and @ton/tolk-js only when used', () => {
  it('the main entry with a fresh build loads neither', async () => {
    await compileAll();
    const loaded = await heavyPackagesLoadedBy(`
      const contracts = await import('@cocoon/contracts');
      const codes = await contracts.loadContractCodes();
      if (!(codes.root.hash().length === 32 && contracts.topUpCredit(10n ** 9n) > 0n)) process.exit(2);`);
    expect(loaded).toEqual([]);
  });

  it('openChain loads the emulator for the sandbox network, and the sandbox entry has it', async () => {
    const loaded = await heavyPackagesLoadedBy(`
      const { openChain } = await import('@cocoon/contracts');
      const chain = await openChain({ network: 'sandbox' });
      await chain.close();
      const { SandboxChain } = await import('@cocoon/contracts/sandbox');
      if (typeof SandboxChain.open !== 'function') process.exit(2);`);
    expect(loaded).toEqual(['@ton/sandbox']);
  });

  it('the cached build is fresh by the installed compiler release, which the build records', async () => {
    const hash = await sourcesHash();
    expect(tolkPackageVersion()).toBe(await getTolkCompilerVersion());
    for (const name of CONTRACT_NAMES) {
      const cached = JSON.parse(readFileSync(join(buildDir, `${name}.json`), 'utf-8'));
      expect(cached).toMatchObject({ sourceHash: hash, tolkVersion: tolkPackageVersion() });
    }
  });
});

describe('mainnetFeeConfig fixture', () => {
  it("is @ton/sandbox's defaultConfig with June 2026 mainnet fee params (scripts/mainnet-fee-config.ts)", () => {
    const recomputed = withMainnetFeeParams(Cell.fromBase64(defaultConfig));
    expect(mainnetFeeConfig().toBoc().toString('base64')).toBe(recomputed.toBoc().toString('base64'));
  });
});
