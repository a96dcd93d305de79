// `cocoon`: the developer's client of the network. Every command goes through the attested, sealed path
// (the client SDK verifies workers, seals, opens, and checks receipts); nothing readable leaves this process.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { buildSummaryPrompt, createArticleReader } from '@cocoon/bot';
import { chainOptionsFromConfig, openChain, RootContract, rootPolicySource } from '@cocoon/contracts';
import { type ChatResult, CocoonClient, type Config, receiptId } from '@cocoon/shared';
import { FileVoucherStore } from '@cocoon/shared/client/voucher-file';
import { loadProcessConfigOrExit } from '@cocoon/shared/config-file';
import { keyFileOptions, loadOrCreateKey } from '@cocoon/shared/key-file';
import { createLogger } from '@cocoon/shared/log';
import { Address } from '@ton/core';
import { Command, InvalidArgumentError } from 'commander';
import {
  CLI_ACCOUNT,
  type CliAccount,
  formatBalance,
  formatTon,
  openCliAccount,
  readBalance,
  TonAmount,
  topUp,
  withdraw,
} from './account.js';
import { type RunningApp, startApp } from './app.js';
import { clientSettingsOf } from './client-account.js';
import { createGateway } from './gateway.js';
import { readLocalNetwork } from './local-network.js';

/**
 * A client of the configured network: the local one `npm start` runs (sandbox), or a real one whose policy
 * comes from its Root contract on chain.
 */
async function connect(
  config: Config,
  keyName: string,
): Promise<{ client: CocoonClient; close(): Promise<void> }> {
  const clientKey = await loadOrCreateKey(config.COCOON_DATA_DIR, keyName, keyFileOptions(config));
  if (config.TON_NETWORK === 'sandbox') {
    const local = await readLocalNetwork(config.COCOON_DATA_DIR);
    // npm start funded this account's Client contract; vouchers pay for each job from it.
    const client = new CocoonClient({
      proxyUrl: local.proxyUrl,
      clientKey,
      policy: local.policy,
      ...clientSettingsOf(config),
      vouchers: {
        ...local.cliAccount,
        store: new FileVoucherStore(join(config.COCOON_DATA_DIR, `${CLI_ACCOUNT}-vouchers.json`)),
      },
    });
    return { client, close: async () => {} };
  }
  if (config.ROOT_ADDRESS === undefined)
    throw new Error(`set ROOT_ADDRESS: the Root contract of the ${config.TON_NETWORK} network to trust`);
  const chain = await openChain(chainOptionsFromConfig(config));
  const root = chain.open(RootContract.createFromAddress(Address.parse(config.ROOT_ADDRESS)));
  const policy = rootPolicySource(root, { allowDev: config.ATTESTATION_ALLOW_DEV });
  const client = new CocoonClient({
    proxyUrl: config.PROXY_URL,
    clientKey,
    policy: () => policy.read(),
    // on stderr: stdout carries the command's answer
    ...clientSettingsOf(config, createLogger('cocoon', config.LOG_LEVEL, process.stderr)),
  });
  return { client, close: () => chain.close() };
}

/** The model to use: the one named (by name or hash), else the cheapest on the network. */
async function pickModel(client: CocoonClient, wanted?: string): Promise<string> {
  const models = await client.models();
  const found =
    wanted === undefined
      ? [...models].sort((a, b) => Number(a.minPricePerToken - b.minPricePerToken))[0]
      : models.find((m) => m.model === wanted || m.name === wanted);
  if (found === undefined)
    throw new Error(
      wanted === undefined ? 'no model is served on the network' : `no worker serves ${wanted}`,
    );
  return found.model;
}

function printResult(result: ChatResult): void {
  const { receipt, worker } = result;
  const attestation = `${worker.attestation.kind}${worker.attestation.secure ? '' : ' (INSECURE: no TEE)'}`;
  console.error(
    [
      '',
      `cost      ${receipt.amount} nanoTON (${receipt.promptTokens} prompt + ${receipt.completionTokens} completion tokens at ${receipt.pricePerToken} nanoTON/token)`,
      `receipt   ${receiptId(receipt)} ✓ signed by the attested worker ${worker.workerId}, matches the job`,
      `worker    attestation ${attestation}, model ${receipt.model.slice(0, 16)}…`,
    ].join('\n'),
  );
}

async function run(
  keyName: string,
  work: (client: CocoonClient, config: Config) => Promise<void>,
): Promise<void> {
  const config = loadProcessConfigOrExit();
  try {
    const { client, close } = await connect(config, keyName);
    try {
      await work(client, config);
    } finally {
      await close();
    }
  } catch (error) {
    console.error(`cocoon: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

/** Runs an account command: the CLI's wallet and Client contract, no proxy needed. */
async function runAccount(work: (account: CliAccount) => Promise<void>): Promise<void> {
  const config = loadProcessConfigOrExit();
  try {
    const account = await openCliAccount(config);
    try {
      await work(account);
    } finally {
      await account.chain.close();
    }
  } catch (error) {
    console.error(`cocoon: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

/** A TON amount argument, or a usage error naming what is wrong with it. */
function tonAmount(text: string): bigint {
  const parsed = TonAmount.safeParse(text);
  if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'not an amount');
  return parsed.data;
}

const program = new Command('cocoon')
  .description('Use the Cocoon network: confidential LLM inference on TON.')
  .showHelpAfterError();

program
  .command('start')
  .description('run the whole network locally (same as npm start)')
  .action(async () => {
    await import('./start.js').then((start) => start.main());
  });

program
  .command('chat')
  .argument('<prompt...>', 'what to ask')
  .option('-m, --model <name>', 'model name or SHA-256 (default: the cheapest)')
  .option('--max-tokens <n>', 'longest answer', '256')
  .description('ask a model; the answer streams as it is decrypted')
  .action((prompt: string[], flags: { model?: string; maxTokens: string }) =>
    run(CLI_ACCOUNT, async (client) => {
      const model = await pickModel(client, flags.model);
      const result = await client.chat(
        { messages: [{ role: 'user', content: prompt.join(' ') }], max_tokens: Number(flags.maxTokens) },
        { model, onText: (text) => process.stdout.write(text) },
      );
      process.stdout.write('\n');
      printResult(result);
    }),
  );

program
  .command('summarize')
  .argument('<source>', 'an http(s) URL, a file, or - for standard input')
  .option('-m, --model <name>', 'model name or SHA-256 (default: the cheapest)')
  .option('-l, --length <length>', 'short | bullets | detailed', 'bullets')
  .option('--language <code>', "ISO 639-1 code, or auto for the text's own", 'auto')
  .description('summarize a page, a file or standard input')
  .action(
    (source: string, flags: { model?: string; length: 'short' | 'bullets' | 'detailed'; language: string }) =>
      run(CLI_ACCOUNT, async (client) => {
        let text: string;
        let title: string | undefined;
        if (/^https?:\/\//i.test(source)) {
          const article = await createArticleReader()(source);
          text = article.text;
          title = article.title;
        } else {
          text = source === '-' ? await readStdin() : await readFile(source, 'utf8');
        }
        const model = await pickModel(client, flags.model);
        const request = buildSummaryPrompt({
          text,
          ...(title ? { title } : {}),
          language: flags.language,
          length: flags.length,
        });
        if (title) console.log(`${title}\n`);
        const result = await client.chat(request, { model, onText: (piece) => process.stdout.write(piece) });
        process.stdout.write('\n');
        printResult(result);
      }),
  );

program
  .command('workers')
  .option('-m, --model <name>', 'model name or SHA-256 (default: every model)')
  .description('workers on the network, each with its attestation verified here')
  .action((flags: { model?: string }) =>
    run(CLI_ACCOUNT, async (client) => {
      const models = await client.models();
      for (const listing of models.filter(
        (m) => flags.model === undefined || m.model === flags.model || m.name === flags.model,
      )) {
        console.log(`${listing.name}  ${listing.model}`);
        const { verified, refused } = await client.workers(listing.model);
        for (const w of verified) {
          const a = w.attestation;
          console.log(
            `  ✓ ${w.workerId}  ${a.kind}${a.secure ? `, TCB ${a.tcbStatus}, image ${a.imageHash?.slice(0, 16)}…` : ' (INSECURE: no TEE)'}  ${w.offer.pricePerToken} nanoTON/token  load ${w.load.activeJobs}/${w.load.capacity}`,
          );
        }
        for (const r of refused) console.log(`  ✗ ${r.workerId}  ${r.reason}`);
      }
    }),
  );

program
  .command('balance')
  .description(
    "the CLI account's credit: its Client contract's deposit, what was charged and signed, and its wallet",
  )
  .action(() =>
    runAccount(async (account) => {
      console.log(formatBalance(await readBalance(account)));
    }),
  );

program
  .command('topup')
  .argument('<amount>', 'TON to move from the wallet into the Client contract, e.g. 1 or 0.25', tonAmount)
  .description("move TON from the CLI's wallet into its Client contract (the deposit jobs are paid from)")
  .action((amount: bigint) =>
    runAccount(async (account) => {
      const { credited } = await topUp(account, amount);
      console.log(
        `topped up: ${formatTon(credited)} credited (${formatTon(amount)} sent; the contract keeps ${formatTon(amount - credited)} for its gas)\n`,
      );
      console.log(formatBalance(await readBalance(account)));
    }),
  );

program
  .command('withdraw')
  .argument('[amount]', 'TON to take back (default: all that is withdrawable)', tonAmount)
  .summary('take unused deposit back to the wallet, at once')
  .description(
    'take unused deposit back to the wallet, at once (no waiting period: the owner may always withdraw the deposit). ' +
      'What you signed and the proxy has not charged yet stays: it is owed. A stake (the CLI deposits none) ' +
      "leaves only by a refund request and, after the contract's close delay, a forced refund.",
  )
  .action((amount: bigint | undefined) =>
    runAccount(async (account) => {
      const done = await withdraw(account, amount);
      console.log(`withdrew ${formatTon(done.amount)} to the wallet ${account.chain.wallet}\n`);
      console.log(formatBalance(await readBalance(account)));
    }),
  );

program
  .command('gateway')
  .description(
    'a local OpenAI-compatible endpoint (/v1/chat/completions, /v1/models) that seals every request',
  )
  .action(async () => {
    const config = loadProcessConfigOrExit();
    const { client } = await connect(config, 'gateway');
    const server = createServer(
      createGateway({ client, ...(config.GATEWAY_API_KEY ? { apiKey: config.GATEWAY_API_KEY } : {}) }),
    );
    server.listen(config.GATEWAY_PORT, config.GATEWAY_HOST, () => {
      console.log(
        `OpenAI-compatible gateway on http://${config.GATEWAY_HOST}:${config.GATEWAY_PORT}/v1 (Ctrl-C stops it)`,
      );
    });
  });

program
  .command('app')
  .description(
    'run the Telegram bot (with BOT_TOKEN) and the Mini App server as their own process, paying the network from their own Client contract',
  )
  .action(async () => {
    const config = loadProcessConfigOrExit();
    const log = createLogger('cocoon-app', config.LOG_LEVEL);
    let app: RunningApp;
    try {
      app = await startApp(config, log);
    } catch (error) {
      console.error(`cocoon: ${(error as Error).message}`);
      process.exitCode = 1;
      return;
    }
    console.log(
      [
        `Mini App server  ${app.telegram.url}${config.PUBLIC_URL ? `  (public at ${config.PUBLIC_URL})` : ''}`,
        `Telegram bot     ${app.botUsername ? `@${app.botUsername}` : config.BOT_TOKEN ? 'running' : 'no BOT_TOKEN: Mini App server only'}`,
        `Client contract  ${app.account.contract}  (the app pays for users' jobs from it; fund it with TON)`,
        '',
        'Ctrl-C stops it.',
      ].join('\n'),
    );
    let stopping = false;
    const shutdown = async () => {
      if (stopping) return;
      stopping = true;
      await app.stop();
      process.exit(0);
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

await program.parseAsync();
