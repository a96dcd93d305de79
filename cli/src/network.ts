// The composition root: the whole network in one process on embedded defaults. Every role is started
// through its own package's public API; only this file knows how they fit together.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BotSettings, ReadArticle, RunningTelegramApp } from '@cocoon/bot';
import {
  type Chain,
  chainOptionsFromConfig,
  DEFAULT_ROOT_PARAMS,
  ensureRoot,
  loadOrCreateMnemonic,
  openChain,
  RootContract,
  rootPolicySource,
  walletAddress,
} from '@cocoon/contracts';
import type { SandboxChain } from '@cocoon/contracts/sandbox';
import { CocoonProxy, type ProxyLink, startProxyOperator } from '@cocoon/proxy';
import type { AttestationPolicy, CocoonClient, Config } from '@cocoon/shared';
import type { Logger } from '@cocoon/shared/log';
import { openStore, type Store } from '@cocoon/shared/store';
import { type Engine, loadEngine, type RunningWorker, startWorker } from '@cocoon/worker';
import { Address, type OpenedContract, toNano } from '@ton/core';
import { CLI_ACCOUNT } from './account.js';
import { startAppRole } from './app-role.js';
import { localClient } from './client-account.js';
import { createGateway } from './gateway.js';

export interface NetworkOptions {
  config: Config;
  log: Logger;
  /** Replace llama.cpp in the embedded worker (tests of other parts use the fake engine). */
  engine?: Engine;
  /** Ports of 0 pick free ones (tests). */
  ports?: { proxy?: number; gateway?: number; workerStatus?: number | null; app?: number; chainRpc?: number };
  /** Another Bot API server (tests use a recording one). */
  botApiRoot?: string;
  /** Another link reader for the bot and the Mini App (tests let it reach a loopback page server). */
  readArticle?: ReadArticle;
  /** The bot's settings over its defaults (tests turn off the free quota so jobs are paid from credit). */
  botSettings?: Partial<BotSettings>;
}

export interface RunningNetwork {
  chain: Chain;
  /** The local chain's loopback JSON-RPC (sandbox only): how other processes (the CLI) send on it. */
  chainRpcUrl?: string;
  /** The Proxy contract and what fixes every Client and Worker contract of this proxy. */
  link: ProxyLink;
  /** The CLI's client account: its wallet (owner) and funded Client contract (for `cocoon` commands). */
  cliAccount: { owner: string; contract: string };
  /** What clients of this network trust: the Root contract's allowlists. */
  policy: { read(): Promise<AttestationPolicy> };
  root: OpenedContract<RootContract>;
  store: Store<never>;
  proxy: CocoonProxy;
  worker: RunningWorker;
  client: CocoonClient;
  gatewayUrl: string;
  /** The Mini App server, and the bot when BOT_TOKEN is set. */
  telegram: RunningTelegramApp;
  /** The app's Client contract: where users' TonConnect top-ups go, credited by the chain watcher. */
  appAccount: { owner: string; contract: string };
  stop(): Promise<void>;
}

/**
 * The Root contract the network trusts: the configured one, or on the sandbox one deployed on first start
 * (owned by the local wallet) that lists the embedded worker's models.
 */
async function trustedRoot(
  chain: Chain,
  config: Config,
  engine: Engine,
  log: Logger,
): Promise<OpenedContract<RootContract>> {
  if (config.ROOT_ADDRESS !== undefined)
    return chain.open(RootContract.createFromAddress(Address.parse(config.ROOT_ADDRESS)));
  if (chain.network !== 'sandbox')
    throw new Error(`set ROOT_ADDRESS: npm start deploys a Root contract only on the local sandbox chain`);
  const root = await ensureRoot(chain, { owner: chain.wallet, params: DEFAULT_ROOT_PARAMS });
  for (const model of engine.models) {
    if ((await root.getModelCoefficient(BigInt(`0x${model.id}`))) !== model.priceCoefficient) {
      await root.sendSetModel(chain.sender, {
        modelHash: BigInt(`0x${model.id}`),
        priceCoefficient: model.priceCoefficient,
      });
      log.info({ model: model.name }, 'model listed in the Root contract');
    }
  }
  return root;
}

export async function startNetwork({
  config,
  log,
  engine,
  ports = {},
  botApiRoot,
  readArticle,
  botSettings,
}: NetworkOptions): Promise<RunningNetwork> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.reverse())
      await step().catch((error: unknown) => log.error({ err: (error as Error).message }, 'stop failed'));
  };
  try {
    const store = await openStore<never>({
      ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}),
      dataDir: config.COCOON_DATA_DIR,
      log,
    });
    stops.push(() => store.close());

    const chain = await openChain(chainOptionsFromConfig(config));
    stops.push(() => chain.close());
    let chainRpcUrl: string | undefined;
    if (chain.network === 'sandbox') {
      // imported here: on a real network this process never loads the TVM emulator
      const { serveChainRpc } = await import('@cocoon/contracts/sandbox');
      const rpc = await serveChainRpc(chain as SandboxChain, { port: ports.chainRpc ?? config.TON_RPC_PORT });
      stops.push(() => rpc.close());
      chainRpcUrl = rpc.url;
    }

    const workerLog = log.child({ role: 'worker' });
    const workerEngine = engine ?? (await loadEngine(config, workerLog));
    const root = await trustedRoot(chain, config, workerEngine, log);
    const params = await root.getParams();
    const policy = rootPolicySource(root, { allowDev: config.ATTESTATION_ALLOW_DEV });
    const operator = await startProxyOperator(chain, root, config);
    const proxyLog = log.child({ role: 'proxy' });
    const proxy = await CocoonProxy.start(
      {
        store: store as never,
        policySource: policy,
        credit: operator.credit(store.db as never, proxyLog.child({ part: 'credit' })),
        settlement: {
          chain: operator.settlementChain,
          secretKey: operator.secretKey,
          settings: operator.settings,
        },
        limits: { trustForwardedFor: config.PROXY_TRUST_FORWARDED_FOR },
        log: proxyLog,
      },
      { host: config.PROXY_HOST, port: ports.proxy ?? config.PROXY_PORT },
    );
    stops.push(() => proxy.close());
    if (config.PROXY_TLS_CERT_FILE !== undefined || config.PROXY_TLS_KEY_FILE !== undefined)
      proxyLog.warn(
        { url: proxy.url },
        'PROXY_TLS_* are for cocoon-proxy: this proxy serves the roles beside it, over plain HTTP on its own address',
      );

    const worker = await startWorker({
      config: {
        ...config,
        PROXY_URL: proxy.url,
        PRICE_PER_TOKEN: params.pricePerToken,
        WORKER_PAYOUT_ADDRESS: config.WORKER_PAYOUT_ADDRESS ?? chain.wallet.toString(),
      },
      log: workerLog,
      engine: workerEngine,
      statusPort: ports.workerStatus === undefined ? config.WORKER_STATUS_PORT : ports.workerStatus,
    });
    stops.push(() => worker.stop());

    const clientOptions = {
      chain,
      link: operator.link,
      clientCode: operator.clientCode,
      config,
      proxyUrl: proxy.url,
      policy,
      log,
    };
    const { client } = await localClient({ ...clientOptions, name: 'gateway' });
    const cli = await localClient({
      ...clientOptions,
      name: CLI_ACCOUNT,
      owner: await cliWallet(chain, config, log),
    });
    const gateway = createGateway({
      client,
      ...(config.GATEWAY_API_KEY ? { apiKey: config.GATEWAY_API_KEY } : {}),
    });
    const server = createServer(gateway);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ports.gateway ?? config.GATEWAY_PORT, config.GATEWAY_HOST, () => resolve());
    });
    stops.push(() => new Promise((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;

    // The Telegram side, with its own client account.
    const {
      telegram,
      account: appAccount,
      stop: stopApp,
    } = await startAppRole({
      ...clientOptions,
      store,
      tokenDir: config.COCOON_DATA_DIR,
      port: ports.app ?? config.APP_PORT,
      ...(botApiRoot ? { botApiRoot } : {}),
      ...(readArticle ? { readArticle } : {}),
      ...(botSettings ? { botSettings } : {}),
    });
    stops.push(stopApp);
    return {
      chain,
      ...(chainRpcUrl ? { chainRpcUrl } : {}),
      link: operator.link,
      cliAccount: cli.account,
      policy,
      root,
      store,
      proxy,
      worker,
      client,
      gatewayUrl: `http://${config.GATEWAY_HOST}:${port}`,
      telegram,
      appAccount,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** What a new local CLI wallet gets from this process's wallet on the sandbox, for `cocoon topup`. */
const CLI_WALLET_FUNDING = toNano('100');

/**
 * The CLI's wallet. On the sandbox it is a wallet of its own (a mnemonic in the data folder, which the CLI
 * uses over the chain's JSON-RPC), funded here once, while it has never received anything; on testnet and
 * mainnet it is the configured wallet (TON_MNEMONIC), this process's own.
 */
async function cliWallet(chain: Chain, config: Config, log: Logger): Promise<Address> {
  if (chain.network !== 'sandbox') return chain.wallet;
  const wallet = await walletAddress(
    await loadOrCreateMnemonic(config.COCOON_DATA_DIR, CLI_ACCOUNT),
    'sandbox',
  );
  if (!(await chain.isDeployed(wallet)) && (await chain.getBalance(wallet)) === 0n) {
    await chain.transfer({ to: wallet, value: CLI_WALLET_FUNDING, bounce: false });
    log.info({ wallet: wallet.toString() }, 'CLI wallet funded');
  }
  return wallet;
}
