import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topUpCredit, Value } from '@cocoon/contracts';
import { NetworkResponse, signInitData } from '@cocoon/shared/protocol/app-api';
import { writeTinyGguf } from '@cocoon/worker/testing';
import { toNano } from '@ton/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTon } from '../src/account.js';
import { localAppToken } from '../src/app-role.js';
import { runCocoon, spawnScript, waitForOutput } from './support/processes.js';

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
  const started = spawnScript('cli/src/start.ts', [], { cwd: dir, env });
  children.add(started.child);
  return { child: started.child, table: await waitForOutput(started, 'Ctrl-C stops', 90_000) };
}

const cocoon = (...args: string[]) => runCocoon(args, { cwd: dir, env }, (child) => children.add(child));

/** `cocoon balance`'s amounts, in nanotons, read back from its 9-decimal TON figures. */
function balances(output: string): Record<string, bigint> {
  const nanotons = (text: string) => BigInt(text.replace('.', ''));
  const found: Record<string, bigint> = {};
  for (const [, name, amount] of output.matchAll(/^\s+(\w+)\s+(\d+\.\d{9}) TON/gm))
    if (name && amount) found[name] = nanotons(amount);
  const wallet = output.match(/^Wallet\s+\S+\s+(\d+\.\d{9}) TON/m)?.[1];
  if (wallet) found.wallet = nanotons(wallet);
  return found;
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
    TON_RPC_PORT: String(await freePort()),
    COCOON_KEY_PASSPHRASE: 'a passphrase for the test keys',
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

/**
 * `cocoon app` as a process of its own beside the running `npm start`: it joins the local network through
 * network.json, keeps its account and database in a subfolder, and serves the Mini App's API.
 */
async function runsTheAppAlone(table: string): Promise<void> {
  const appPort = await freePort();
  const app = spawnScript('cli/src/cocoon.ts', ['app'], {
    cwd: dir,
    env: { ...env, APP_PORT: String(appPort) },
  });
  children.add(app.child);
  const output = await waitForOutput(app, 'Ctrl-C stops it', 30_000);
  const base = `http://127.0.0.1:${appPort}`;
  expect(output).toContain(`Mini App server  ${base}`);
  expect(output).toContain('no BOT_TOKEN: Mini App server only');
  // its own Client contract (its key is in its own folder), not npm start's embedded app's
  const contract = output.match(/Client contract\s+(\S+)/)?.[1];
  expect(contract).toBeDefined();
  expect(contract).toMatch(/^(EQ|UQ)/);
  expect(row(table, 'Mini App')).not.toContain(contract);
  const manifest = await fetch(`${base}/tonconnect-manifest.json`);
  expect(manifest.status).toBe(200);
  expect(await manifest.json()).toMatchObject({ url: base, name: 'Cocoon' });

  const user = JSON.stringify({ id: 4242, first_name: 'Ada' });
  const signed = signInitData(
    { auth_date: String(Math.floor(Date.now() / 1000)), user },
    await localAppToken(env.COCOON_DATA_DIR as string),
  );
  const network = await fetch(`${base}/api/network`, { headers: { authorization: `tma ${signed}` } });
  expect(network.status).toBe(200);
  const listed = NetworkResponse.parse(await network.json());
  const status = await (await fetch(`http://127.0.0.1:${env.WORKER_STATUS_PORT}/status`)).json();
  expect(listed.workers.map((w) => w.workerId)).toEqual([status.workerId]);

  const forged = signInitData({ auth_date: String(Math.floor(Date.now() / 1000)), user }, '1:not-the-token');
  const refused = await fetch(`${base}/api/network`, { headers: { authorization: `tma ${forged}` } });
  expect(refused.status).toBe(401);

  expect(await stop(app.child)).toBe(0);
}

describe('npm start, as a process', () => {
  it('comes up, answers `cocoon summarize` and `balance | topup | withdraw`, stops on SIGINT, and comes back with the same balances', async () => {
    const first = await start();
    expect(row(first.table, 'Root contract')).toMatch(/^Root contract\s+\S+/);

    // A price ceiling below the worker's price: no job runs, and the CLI says why.
    const capped = await runCocoon(
      ['summarize', 'post.txt', '--length', 'short'],
      { cwd: dir, env: { ...env, CLIENT_MAX_PRICE_PER_TOKEN: '1' } },
      (child) => children.add(child),
    );
    expect(capped.code).toBe(1);
    expect(capped.output).toMatch(/within 1 nanotons per token \(the cheapest asks \d+\)/);

    const { code, output } = await cocoon('summarize', 'post.txt', '--length', 'short');
    expect(code, output).toBe(0);
    expect(output).toMatch(/receipt\s+[0-9a-f]{64} ✓ signed by the attested worker/);
    expect(output).toMatch(/cost\s+\d+ nanoTON/);

    // The CLI's wallet reaches the chain through npm start's loopback JSON-RPC, as it would reach toncenter.
    expect(row(first.table, 'chain RPC')).toContain(`http://127.0.0.1:${env.TON_RPC_PORT}/api/v2/jsonRPC`);
    const opening = await cocoon('balance');
    expect(opening.code, opening.output).toBe(0);
    const before = balances(opening.output);
    // the summary above was paid by a voucher, not yet charged on chain
    expect(before.signed).toBeGreaterThan(0n);
    expect(before.pending).toBe((before.signed ?? 0n) - (before.charged ?? 0n));
    expect(before.wallet).toBe(toNano('100'));

    const topup = await cocoon('topup', '1');
    expect(topup.code, topup.output).toBe(0);
    const afterTopUp = balances(topup.output);
    // every nanoton arrives, less the top-up's gas bound the contract keeps (a charge meanwhile moves value
    // from deposit to charged, so their sum is what a top-up changes)
    const funded = (b: Record<string, bigint>) => (b.deposit ?? 0n) + (b.charged ?? 0n);
    expect(funded(afterTopUp) - funded(before)).toBe(topUpCredit(toNano('1')));
    expect(topup.output).toContain(`credited (1.000000000 TON sent`);
    const sendCost = (before.wallet ?? 0n) - toNano('1') - (afterTopUp.wallet ?? 0n);
    expect(sendCost).toBeGreaterThan(0n);
    expect(sendCost).toBeLessThan(toNano('0.01'));

    const tooMuch = await cocoon('topup', '1000');
    expect(tooMuch.code).toBe(1);
    expect(tooMuch.output).toMatch(/holds 98\.\d{9} TON; a top-up of 1000\.000000000 TON needs/);

    const out = await cocoon('withdraw');
    expect(out.code, out.output).toBe(0);
    const afterWithdraw = balances(out.output);
    // everything but what the CLI signed and the proxy has not charged yet
    expect(out.output).toContain(`withdrew ${formatTon(afterTopUp.withdrawable ?? 0n)}`);
    expect((afterWithdraw.deposit ?? 0n) - (afterWithdraw.pending ?? 0n)).toBe(0n);
    expect(afterWithdraw.withdrawable).toBe(0n);
    const returned = (afterWithdraw.wallet ?? 0n) - (afterTopUp.wallet ?? 0n);
    expect(returned).toBeGreaterThan((afterTopUp.withdrawable ?? 0n) - toNano('0.01'));
    expect(returned).toBeLessThanOrEqual((afterTopUp.withdrawable ?? 0n) + Value.ownerOp);
    const nothingLeft = await cocoon('withdraw');
    expect(nothingLeft.code).toBe(1);
    expect(nothingLeft.output).toContain('nothing to withdraw');

    await runsTheAppAlone(first.table);

    // With COCOON_KEY_PASSPHRASE set, every account's and the proxy's key is kept encrypted (the restart
    // below opens them again: the same Proxy contract, whose address follows from the proxy's key).
    const dataDir = env.COCOON_DATA_DIR as string;
    const keyFiles = (await readdir(dataDir)).filter((name) => name.endsWith('-key.json'));
    expect(keyFiles).toContain('proxy-key.json');
    for (const name of keyFiles.filter((file) => file !== 'app-dev-token-key.json')) {
      expect(JSON.parse(await readFile(join(dataDir, name), 'utf8')), name).toMatchObject({ v: 2 });
    }

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

    const stopped = await cocoon('balance');
    expect(stopped.code).toBe(1);
    expect(stopped.output).toContain('the local network is not running');
  }, 400_000);
});
