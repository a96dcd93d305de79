import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@cocoon/shared';
import { describe, expect, it } from 'vitest';
import { formatChecks, runDoctor } from '../src/doctor.js';
import { parseModelSources } from '../src/runtime.js';
import { writeTinyGguf } from '../src/testing/random-gguf.js';

const payout = 'EQD__________________________________________0vo';

describe('cocoon-worker doctor', () => {
  it('passes a sane machine and warns about dev attestation without TDX', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doctor-'));
    const model = await writeTinyGguf(join(dir, 'tiny.gguf'));
    const config = loadConfig({
      COCOON_MODEL: model.path,
      WORKER_PAYOUT_ADDRESS: payout,
      WORKER_GPU: 'cpu',
    });
    const proxyUp: typeof fetch = async () => new Response('ok');
    const checks = await runDoctor(config, { tsmReportRoot: join(dir, 'no-tsm'), fetch: proxyUp });
    expect(checks.every((c) => c.ok)).toBe(true);
    expect(checks.find((c) => c.name === 'TDX')).toMatchObject({
      warning: true,
      detail: expect.stringMatching(/INSECURE/),
    });
    expect(formatChecks(checks)).toMatch(/✓ model .*GGUF/);
  });

  it('names each problem and how to fix it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doctor-'));
    await writeFile(join(dir, 'not-a-model.gguf'), 'hello');
    const config = loadConfig({
      COCOON_MODEL: `${join(dir, 'not-a-model.gguf')},${join(dir, 'missing.gguf')}`,
      WORKER_PAYOUT_ADDRESS: 'my wallet',
      WORKER_ATTESTATION: 'tdx',
      WORKER_GPU: 'cpu',
    });
    const proxyDown: typeof fetch = async () => new Response('no', { status: 503 });
    const checks = await runDoctor(config, { tsmReportRoot: join(dir, 'no-tsm'), fetch: proxyDown });
    const failed = Object.fromEntries(checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));
    expect(Object.keys(failed).sort()).toEqual([
      'TDX',
      `model ${join(dir, 'missing.gguf')}`,
      `model ${join(dir, 'not-a-model.gguf')}`,
      'payout address',
      'proxy',
    ]);
    expect(failed['payout address']).toMatch(/not a TON address/);
    expect(failed.proxy).toMatch(/HTTP 503/);
    expect(formatChecks(checks)).toMatch(/✗ TDX: .*\n {4}fix: run the worker inside an Intel TDX guest/);
  });
});

describe('COCOON_MODEL', () => {
  it('reads sources with optional price coefficients', () => {
    expect(parseModelSources('a.gguf, hf:org/repo/b.gguf=15000')).toEqual([
      { source: 'a.gguf', priceCoefficient: 10_000 },
      { source: 'hf:org/repo/b.gguf', priceCoefficient: 15_000 },
    ]);
    expect(() => parseModelSources('a.gguf=0')).toThrowError(/positive integer/);
  });
});
