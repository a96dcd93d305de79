// The app's crediting of users' TON top-ups as a process a test can crash: the chain watcher over the
// sandbox chain in the data folder, its cursor file, and the bot's `creditTopUp` over the bot's ledger.
// CRASH_AT=credit SIGKILLs it right after a credit (before the cursor moves past it), CRASH_AT=cursor right
// after the cursor is saved. Without CRASH_AT it drains what is there and exits. The ledger is PGlite in the
// data folder, or the Postgres database DATABASE_URL names.
import { join } from 'node:path';
import { FakeSummarizer, startTelegramApp } from '@cocoon/bot';
import { ClientContractWatcher, FileCursorStore, topUpCredit } from '@cocoon/contracts';
import { SandboxChain } from '@cocoon/contracts/sandbox';
import { createLogger } from '@cocoon/shared/log';
import { openStore } from '@cocoon/shared/store';
import { Address } from '@ton/core';

const dataDir = process.env.COCOON_DATA_DIR;
const appContract = process.env.APP_CLIENT_CONTRACT;
if (dataDir === undefined || appContract === undefined)
  throw new Error('COCOON_DATA_DIR and APP_CLIENT_CONTRACT are required');
const crashAt = process.env.CRASH_AT;
const crash = () => process.kill(process.pid, 'SIGKILL');

const databaseUrl = process.env.DATABASE_URL;
const store = await openStore({ dataDir, ...(databaseUrl === undefined ? {} : { databaseUrl }) });
const chain = await SandboxChain.open({ dataDir });
const app = await startTelegramApp({
  store,
  summarizer: new FakeSummarizer(),
  appToken: 'app-credit-fault-test',
  host: '127.0.0.1',
  port: 0,
  staticDir: join(dataDir, 'no-miniapp'),
  clientContractAddress: appContract,
  network: async () => ({ models: [], workers: [] }),
  policy: async () => ({ allowDev: true, imageHashes: [], models: [], acceptedTcbStatuses: ['UpToDate'] }),
  logger: createLogger('app', 'warn'),
});
const cursorFile = new FileCursorStore(join(dataDir, 'app-topups-cursor.json'));
const watcher = new ClientContractWatcher({
  chain,
  client: Address.parse(appContract),
  cursor: {
    load: () => cursorFile.load(),
    async save(cursor) {
      await cursorFile.save(cursor);
      if (crashAt === 'cursor') crash();
    },
  },
  onTopUp: async (event) => {
    if (typeof event.reference !== 'bigint') return;
    await app.creditTopUp({
      lt: event.lt,
      hash: event.hash,
      userId: Number(event.reference),
      queryId: event.queryId,
      amount: topUpCredit(event.value),
    });
    if (crashAt === 'credit') crash();
  },
});
console.log(JSON.stringify({ handled: await watcher.poll() }));
await app.stop();
await chain.close();
await store.close();
