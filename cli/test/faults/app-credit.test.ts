// The app process crediting users' TON top-ups, SIGKILLed between a credit and its cursor save and right
// after a cursor save, restarted each time: every user is credited each top-up exactly once.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlBotStore } from '@cocoon/bot';
import { loadContractCodes, topUpCredit } from '@cocoon/contracts';
import { SandboxChain } from '@cocoon/contracts/sandbox';
import { clientContractFor } from '@cocoon/proxy';
import { generateSigningKeyPair, toHex } from '@cocoon/shared';
import { openStore } from '@cocoon/shared/store';
import { toNano } from '@ton/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../shared/test/support/test-store.js';

const tsxLoader = new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const appEntry = new URL('../support/faults-app.ts', import.meta.url).pathname;
let dir: string;
let dataDir: string;
let appContract: string;
/** The bot's ledger on Postgres when the suite runs there (COCOON_TEST_DATABASE_URL); else PGlite in dataDir. */
let database: TestDatabase | undefined;
/** user id -> the values of their top-ups */
const topUps: [number, bigint][] = [
  [1001, toNano('1')],
  [1002, toNano('2')],
  [1001, toNano('0.5')],
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cocoon-app-credit-'));
  dataDir = join(dir, 'data');
  database = await createTestDatabase('app-credit');
  const chain = await SandboxChain.open({ dataDir });
  const codes = await loadContractCodes();
  const link = {
    proxy: chain.wallet,
    proxyPublicKey: Buffer.from(generateSigningKeyPair().publicKey),
    clientCloseDelay: 86_400,
  };
  const contract = chain.open(
    clientContractFor(link, chain.wallet, toHex(generateSigningKeyPair().publicKey), codes.client),
  );
  // the app funds its own contract first (no user named: not a user's credit), then users top up
  await contract.sendTopUp(chain.sender, { value: toNano('1') });
  for (const [userId, value] of topUps)
    await contract.sendTopUp(chain.sender, { value, reference: BigInt(userId) });
  appContract = contract.address.toString();
  await chain.close();
}, 60_000);

afterAll(async () => {
  await database?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the app's crediting until it exits (bounded); its exit code or the signal that killed it. */
async function runApp(crashAt?: 'credit' | 'cursor'): Promise<string> {
  const child = spawn(process.execPath, ['--import', tsxLoader, appEntry], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      COCOON_DATA_DIR: dataDir,
      APP_CLIENT_CONTRACT: appContract,
      ...(database === undefined ? {} : { DATABASE_URL: database.url }),
      ...(crashAt ? { CRASH_AT: crashAt } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (data) => {
    output += String(data);
  });
  child.stderr?.on('data', (data) => {
    output += String(data);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  if (code !== null && code !== 0) throw new Error(`the app failed (${code}):\n${output}`);
  return signal ?? String(code);
}

describe('the app killed while crediting top-ups', () => {
  it('credits each top-up exactly once across crashes and restarts', async () => {
    // 1. dies after crediting user 1's first top-up, before its cursor is saved: it comes again next time
    expect(await runApp('credit')).toBe('SIGKILL');
    // 2. sees it again (the ledger refuses the second credit), saves the cursor, dies
    expect(await runApp('cursor')).toBe('SIGKILL');
    // 3. credits user 2, saves the cursor, dies: the credit must have been durable before the cursor moved
    expect(await runApp('cursor')).toBe('SIGKILL');
    // 4. the rest, to the end
    expect(await runApp()).toBe('0');

    const store = await openStore({
      dataDir,
      ...(database === undefined ? {} : { databaseUrl: database.url }),
    });
    try {
      const ledger = await SqlBotStore.open(store);
      const expected = new Map<number, bigint>();
      for (const [userId, value] of topUps)
        expected.set(userId, (expected.get(userId) ?? 0n) + topUpCredit(value));
      for (const [userId, credit] of expected)
        expect(await ledger.balance(userId), String(userId)).toBe(credit);
    } finally {
      await store.close();
    }
  }, 120_000);
});
