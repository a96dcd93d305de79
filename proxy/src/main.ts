// `cocoon-proxy`: a proxy on its own. Trusts the Root contract's allowlists (ROOT_ADDRESS on testnet/mainnet),
// keeps its state in the shared store (DATABASE_URL to share it between several proxies).
import { chainOptionsFromConfig, openChain, RootContract, rootPolicySource } from '@cocoon/contracts';
import { loadProcessConfigOrExit } from '@cocoon/shared/config-file';
import { createLogger } from '@cocoon/shared/log';
import { keepWasmAtBaselineTier, openStore } from '@cocoon/shared/store';
import { Address } from '@ton/core';
import type { ProxyDb } from './db.js';
import { startProxyOperator } from './operator.js';
import { CocoonProxy } from './proxy.js';
import { TlsSetupError, tlsFilesFrom } from './tls.js';

const config = loadProcessConfigOrExit();
if (config.ROOT_ADDRESS === undefined) {
  console.error(
    'ROOT_ADDRESS is not set: a proxy serves the workers that a Root contract allows (npm start deploys one locally)',
  );
  process.exit(2);
}
/** A setup mistake: said in one line, exit code 2 (as for a bad setting). */
function exitWith(error: unknown): never {
  if (!(error instanceof TlsSetupError)) throw error;
  console.error(error.message);
  process.exit(2);
}
let tls: ReturnType<typeof tlsFilesFrom>;
try {
  tls = tlsFilesFrom(config.PROXY_TLS_CERT_FILE, config.PROXY_TLS_KEY_FILE);
} catch (error) {
  exitWith(error);
}
const log = createLogger('proxy', config.LOG_LEVEL);
// The embedded database is this process's only wasm: its memory matters more here than its peak speed.
if (!config.DATABASE_URL) keepWasmAtBaselineTier();
const store = await openStore<ProxyDb>({
  ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}),
  dataDir: config.COCOON_DATA_DIR,
  log,
});
const chain = await openChain(chainOptionsFromConfig(config));
const root = chain.open(RootContract.createFromAddress(Address.parse(config.ROOT_ADDRESS)));
const operator = await startProxyOperator(chain, root, config);
const proxy = await CocoonProxy.start(
  {
    store,
    policySource: rootPolicySource(root, { allowDev: config.ATTESTATION_ALLOW_DEV }),
    credit: operator.credit(store.db, log.child({ part: 'credit' })),
    settlement: {
      chain: operator.settlementChain,
      secretKey: operator.secretKey,
      settings: operator.settings,
    },
    limits: { trustForwardedFor: config.PROXY_TRUST_FORWARDED_FOR },
    log,
  },
  { host: config.PROXY_HOST, port: config.PROXY_PORT, ...(tls ? { tls } : {}) },
).catch(exitWith);
log.info(
  {
    url: proxy.url,
    root: config.ROOT_ADDRESS,
    proxyContract: operator.link.proxy.toString(),
    network: chain.network,
  },
  'proxy ready',
);

const stop = async () => {
  await proxy.close();
  await chain.close();
  await store.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
