import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyGguf } from '@cocoon/worker/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const tsx = join(root, 'node_modules/.bin/tsx');
let dir: string;
let env: NodeJS.ProcessEnv;
/** Every process started, killed at the end whatever the test did. */
const children = new Set<ChildProcess>();

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** Starts `npm start`'s entry point and resolves with its status table once it is up (bounded wait). */
async function start(): Promise<{ child: ChildProcess; table: string }> {
  const child = spawn(tsx, [join(root, 'cli/src/start.ts')], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (data) => {
    out += String(data);
  });
  child.stderr?.on('data', (data) => {
    out += String(data);
  });
  const deadline = Date.now() + 90_000;
  while (!out.includes('Ctrl-C stops')) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`npm start did not come up:\n${out}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { child, table: out };
}

async function stop(child: ChildProcess): Promise<number | null> {
  child.kill('SIGINT');
  const [code] = (await Promise.race([
    once(child, 'exit'),
    new Promise((_, reject) => setTimeout(() => reject(new Error('no exit after SIGINT')), 30_000)),
  ])) as [number | null];
  return code;
}

const row = (table: string, name: string) =>
  table
    .split('\n')
    .find((line) => line.trimStart().startsWith(name))
    ?.trim();
/** The first address-like word of a status row. */
const address = (table: string, name: string) => row(table, name)?.match(/\b(EQ|UQ|0:|http)\S+/)?.[0];
const tons = (table: string, name: string) => Number(row(table, name)?.match(/([\d.]+) TON/)?.[1]);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cocoon-start-'));
  const tiny = await writeTinyGguf(join(dir, 'tiny.gguf'));
  env = {
    ...process.env,
    COCOON_DATA_DIR: join(dir, 'data'),
    COCOON_MODEL: tiny.path,
    WORKER_GPU: 'cpu',
    WORKER_THREADS: '1',
    LOG_LEVEL: 'warn',
    PROXY_PORT: String(await freePort()),
    GATEWAY_PORT: String(await freePort()),
    WORKER_STATUS_PORT: String(await freePort()),
    APP_PORT: String(await freePort()),
  };
  await writeFile(
    join(dir, 'post.txt'),
    'TON is a blockchain. Telegram uses it for payments. Cocoon runs AI jobs on it.',
  );
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('npm start, as a process', () => {
  it('comes up, answers `cocoon summarize`, stops on SIGINT, and comes back with the same balances', async () => {
    const first = await start();
    expect(row(first.table, 'Root contract')).toMatch(/^Root contract\s+\S+/);

    const summarize = spawn(
      tsx,
      [join(root, 'cli/src/cocoon.ts'), 'summarize', 'post.txt', '--length', 'short'],
      { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    summarize.stdout?.on('data', (data) => {
      output += String(data);
    });
    summarize.stderr?.on('data', (data) => {
      output += String(data);
    });
    const [code] = await once(summarize, 'exit');
    expect(code, output).toBe(0);
    expect(output).toMatch(/receipt\s+[0-9a-f]{64} ✓ signed by the attested worker/);
    expect(output).toMatch(/cost\s+\d+ nanoTON/);

    expect(await stop(first.child)).toBe(0);
    const second = await start();
    // The same contracts, and no second deployment: a lost state would stake and fund everything again
    // (25 TON); settlement messages sent meanwhile cost only fees.
    for (const name of ['Root contract', 'Mini App'])
      expect(address(second.table, name), name).toBe(address(first.table, name));
    expect(address(second.table, 'Proxy contract')).toBe(address(first.table, 'Proxy contract'));
    const spent = tons(first.table, 'wallet') - tons(second.table, 'wallet');
    expect(spent).toBeGreaterThanOrEqual(0);
    expect(spent).toBeLessThan(0.05);
    // The worker's own accounting survives the restart too.
    const status = await (await fetch(`http://127.0.0.1:${env.WORKER_STATUS_PORT}/status`)).json();
    expect(status.jobsServed).toBeGreaterThanOrEqual(1);
    expect(BigInt(status.earnedNanotons)).toBeGreaterThan(0n);
    expect(await stop(second.child)).toBe(0);
  });
});
