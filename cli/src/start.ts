// `npm start`: the whole network on embedded defaults, with a status table; Ctrl-C stops it cleanly.
import type { Config } from '@cocoon/shared';
import { loadProcessConfigOrExit } from '@cocoon/shared/config-file';
import { createLogger } from '@cocoon/shared/log';
import { Address } from '@ton/core';
import { formatTon } from './account.js';
import { writeLocalNetwork } from './local-network.js';
import { type RunningNetwork, startNetwork } from './network.js';

export interface StatusRow {
  component: string;
  detail: string;
}

export async function statusRows(network: RunningNetwork, config: Config): Promise<StatusRow[]> {
  const { worker, chain, root } = network;
  const attestation = worker.status().attestation;
  return [
    {
      component: 'chain',
      detail: `TON ${chain.network}${chain.network === 'sandbox' ? ` (real TVM, saved in ${config.COCOON_DATA_DIR})` : ''}`,
    },
    {
      component: 'wallet',
      detail: `${chain.wallet.toString()}  ${formatTon(await chain.getBalance(chain.wallet))}`,
    },
    ...(network.chainRpcUrl
      ? [{ component: 'chain RPC', detail: `${network.chainRpcUrl}  (toncenter v2 JSON-RPC, loopback only)` }]
      : []),
    { component: 'Root contract', detail: root.address.toString() },
    {
      component: 'database',
      detail:
        network.store.kind === 'pglite' ? `PGlite in ${config.COCOON_DATA_DIR}` : 'Postgres (DATABASE_URL)',
    },
    { component: 'proxy', detail: network.proxy.url },
    {
      component: 'worker',
      detail: `${worker.link.state}, ${worker.engine.gpu}, attestation ${attestation.kind}${attestation.secure ? '' : ' (INSECURE: no TEE)'}`,
    },
    ...worker.engine.models.map((m) => ({
      component: 'model',
      detail: `${m.name}  ${m.id.slice(0, 16)}…  ${worker.offers.get(m.id)?.pricePerToken ?? 0n} nanoTON/token${m.chatTemplate === 'extractive' ? '  FALLBACK: extractive engine (sentence ranking, no LLM); set COCOON_MODEL' : ''}`,
    })),
    { component: 'OpenAI gateway', detail: `${network.gatewayUrl}/v1/chat/completions` },
    {
      component: 'Proxy contract',
      detail: `${network.link.proxy.toString()}  ${formatTon(await chain.getBalance(network.link.proxy))}`,
    },
    {
      component: 'CLI account',
      detail: `${network.cliAccount.contract}  (cocoon balance | topup | withdraw)`,
    },
    {
      component: 'CLI wallet',
      detail: `${network.cliAccount.owner}  ${formatTon(await chain.getBalance(Address.parse(network.cliAccount.owner)))}`,
    },
    {
      component: 'Mini App',
      detail: `${network.telegram.url}  (app's Client contract ${network.appAccount.contract})`,
    },
    {
      component: 'Telegram bot',
      detail:
        config.BOT_TOKEN === undefined
          ? 'off: set BOT_TOKEN (from @BotFather: /newbot) and PUBLIC_URL (an https address Telegram can open) to run it'
          : `running (long polling)${config.PUBLIC_URL ? `, Mini App at ${config.PUBLIC_URL}` : ''}`,
    },
  ];
}

export function formatStatus(rows: StatusRow[]): string {
  const width = Math.max(...rows.map((r) => r.component.length));
  return rows.map((r) => `  ${r.component.padEnd(width)}  ${r.detail}`).join('\n');
}

export async function main(): Promise<void> {
  const config = loadProcessConfigOrExit();
  const log = createLogger('cocoon', config.LOG_LEVEL);
  console.log(
    `Cocoon: starting the network in ${config.COCOON_DATA_DIR} (first start deploys contracts and loads the model)…`,
  );
  const network = await startNetwork({ config, log });
  await writeLocalNetwork(config.COCOON_DATA_DIR, {
    proxyUrl: network.proxy.url,
    gatewayUrl: network.gatewayUrl,
    rootAddress: network.root.address.toString(),
    proxyContract: network.link.proxy.toString(),
    ...(network.chainRpcUrl ? { chainRpcUrl: network.chainRpcUrl } : {}),
    cliAccount: network.cliAccount,
    policy: await network.policy.read(),
  });
  console.log(
    `\n${formatStatus(await statusRows(network, config))}\n\nCtrl-C stops it; a restart keeps balances, history and settings.`,
  );
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping: finishing running jobs…');
    await network.stop();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
