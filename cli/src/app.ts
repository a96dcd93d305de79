// `cocoon app`: the bot (with BOT_TOKEN) and the Mini App server as a process of their own, on a machine apart
// from the proxy and the workers. It learns the proxy's link from the Proxy contract on chain, pays the network
// from its own Client contract and credits users' top-ups to that contract from the chain.
import { join } from 'node:path';
import {
  type Chain,
  chainOptionsFromConfig,
  loadContractCodes,
  openChain,
  ProxyContract,
  RootContract,
  rootPolicySource,
} from '@cocoon/contracts';
import type { ProxyLink } from '@cocoon/proxy';
import type { Config } from '@cocoon/shared';
import type { Logger } from '@cocoon/shared/log';
import { openStore } from '@cocoon/shared/store';
import { Address } from '@ton/core';
import { connectLocalChain } from './account.js';
import { type RunningAppRole, startAppRole } from './app-role.js';
import { readLocalNetwork } from './local-network.js';

export interface RunningApp extends RunningAppRole {
  /** The bot's @username, when BOT_TOKEN is set. */
  botUsername?: string;
}

/** Where the app finds the network: a running `npm start` on the sandbox, the configured one otherwise. */
interface AppNetwork {
  chain: Chain;
  rootAddress: string;
  proxyContract: string;
  proxyUrl: string;
  /** The app's own folder: its key, voucher totals, watcher cursor and PGlite database. */
  dataDir: string;
  /** Where the local development token (without BOT_TOKEN) is kept. */
  tokenDir: string;
}

async function appNetwork(config: Config): Promise<AppNetwork> {
  if (config.TON_NETWORK === 'sandbox') {
    const local = await readLocalNetwork(config.COCOON_DATA_DIR);
    return {
      // the local developer's wallet (npm start funded it), as `cocoon balance` uses it
      chain: await connectLocalChain(config.COCOON_DATA_DIR, local),
      rootAddress: local.rootAddress,
      proxyContract: local.proxyContract,
      proxyUrl: local.proxyUrl,
      // a subfolder: npm start's PGlite and its own app account are in the data folder
      dataDir: join(config.COCOON_DATA_DIR, 'app'),
      // npm start's token, so the Mini App's dev mock signs for both
      tokenDir: config.COCOON_DATA_DIR,
    };
  }
  const { ROOT_ADDRESS, PROXY_CONTRACT } = config;
  if (ROOT_ADDRESS === undefined || PROXY_CONTRACT === undefined)
    throw new Error(
      `set ROOT_ADDRESS (the Root contract to trust) and PROXY_CONTRACT (\`cocoon-proxy\` logs it) to run the app on ${config.TON_NETWORK}`,
    );
  return {
    chain: await openChain(chainOptionsFromConfig(config)),
    rootAddress: ROOT_ADDRESS,
    proxyContract: PROXY_CONTRACT,
    proxyUrl: config.PROXY_URL,
    dataDir: config.COCOON_DATA_DIR,
    tokenDir: config.COCOON_DATA_DIR,
  };
}

/** What fixes the proxy's Client contracts, read from its Proxy contract, which the trusted Root must list. */
async function proxyLink(chain: Chain, root: RootContract, proxyContract: string): Promise<ProxyLink> {
  const proxy = chain.open(ProxyContract.createFromAddress(Address.parse(proxyContract)));
  if (!(await chain.open(root).getIsProxyRegistered(proxy.address)))
    throw new Error(`the Root contract ${root.address} does not list the proxy ${proxy.address}`);
  const proxyConfig = await proxy.getConfig();
  return {
    proxy: proxy.address,
    proxyPublicKey: proxyConfig.publicKey,
    clientCloseDelay: proxyConfig.clientCloseDelay,
  };
}

export async function startApp(config: Config, log: Logger): Promise<RunningApp> {
  const network = await appNetwork(config);
  const { chain, dataDir } = network;
  const stops: (() => Promise<void>)[] = [() => chain.close()];
  const stop = async () => {
    for (const step of stops.reverse())
      await step().catch((error: unknown) => log.error({ err: (error as Error).message }, 'stop failed'));
  };
  try {
    const root = RootContract.createFromAddress(Address.parse(network.rootAddress));
    const policy = rootPolicySource(chain.open(root), { allowDev: config.ATTESTATION_ALLOW_DEV });
    const store = await openStore<never>({
      ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}),
      dataDir,
      log,
    });
    stops.push(() => store.close());
    const role = await startAppRole({
      chain,
      link: await proxyLink(chain, root, network.proxyContract),
      clientCode: (await loadContractCodes()).client,
      config: { ...config, COCOON_DATA_DIR: dataDir },
      proxyUrl: network.proxyUrl,
      policy,
      log,
      store,
      tokenDir: network.tokenDir,
      port: config.APP_PORT,
    });
    stops.push(role.stop);
    const bot = role.telegram.bot?.bot;
    return {
      ...role,
      ...(bot?.isInited() ? { botUsername: bot.botInfo.username } : {}),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
