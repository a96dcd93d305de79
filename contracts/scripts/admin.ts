// Deploys and administers Cocoon's contracts on the embedded chain, testnet or mainnet.
//   npm run admin -w @cocoon/contracts -- <command> [args] [--data .cocoon] [--root <address>]
// Network from the settings TON_NETWORK (sandbox | testnet | mainnet), TON_ENDPOINT, TON_API_KEY, TON_MNEMONIC.
import { parseArgs } from 'node:util';
import { loadProcessConfig } from '@cocoon/shared/config-file';
import { Address, toNano } from '@ton/core';
import { z } from 'zod';
import { chainOptionsFromConfig, openChain } from '../src/chain/open.js';
import { ensureProxy, ensureRoot } from '../src/deploy.js';
import { DEFAULT_ROOT_PARAMS, RootContract } from '../wrappers/Root.js';

const USAGE = `commands:
  deploy-root                         deploy the Root contract owned by this wallet (default parameters)
  show-root                           print owner, parameters and allowlists
  set-model <sha256 hex> <coef>       allow a model with a price coefficient (10000 = 1x; 0 removes)
  set-worker-image <sha256 hex> <allow|deny>
  set-proxy-image <sha256 hex> <allow|deny>
  register-proxy <address> <allow|deny>
  deploy-proxy <public key hex> <stake TON>   deploy this wallet's Proxy contract for the root`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { data: { type: 'string' }, root: { type: 'string' } },
});
const [command, ...args] = positionals;
const hash = z
  .string()
  .regex(/^(0x)?[0-9a-fA-F]{64}$/, 'expected 32 bytes of hex')
  .transform((h) => BigInt(`0x${h.replace(/^0x/, '')}`));
const allow = z.enum(['allow', 'deny']).transform((v) => v === 'allow');

const config = loadProcessConfig();
const chain = await openChain(
  chainOptionsFromConfig({ ...config, COCOON_DATA_DIR: values.data ?? config.COCOON_DATA_DIR }),
);
try {
  const rootFor = async () =>
    values.root
      ? chain.open(RootContract.createFromAddress(Address.parse(values.root)))
      : ensureRoot(chain, { owner: chain.wallet, params: DEFAULT_ROOT_PARAMS });
  switch (command) {
    case 'deploy-root': {
      const root = await ensureRoot(chain, { owner: chain.wallet, params: DEFAULT_ROOT_PARAMS });
      console.log(`Root contract: ${root.address.toString()}`);
      break;
    }
    case 'show-root': {
      const root = await rootFor();
      const lists = await root.getLists();
      console.log({
        address: root.address.toString(),
        ...(await root.getState()),
        params: await root.getParams(),
        lists,
      });
      break;
    }
    case 'set-model': {
      const root = await rootFor();
      const coefficient = z.coerce.number().int().min(0).max(0xffffffff).parse(args[1]);
      await root.sendSetModel(chain.sender, {
        modelHash: hash.parse(args[0]),
        priceCoefficient: coefficient,
      });
      break;
    }
    case 'set-worker-image':
      await (await rootFor()).sendSetWorkerImage(chain.sender, {
        imageHash: hash.parse(args[0]),
        allowed: allow.parse(args[1]),
      });
      break;
    case 'set-proxy-image':
      await (await rootFor()).sendSetProxyImage(chain.sender, {
        imageHash: hash.parse(args[0]),
        allowed: allow.parse(args[1]),
      });
      break;
    case 'register-proxy':
      await (await rootFor()).sendSetProxy(chain.sender, {
        proxy: Address.parse(z.string().parse(args[0])),
        allowed: allow.parse(args[1]),
      });
      break;
    case 'deploy-proxy': {
      const root = await rootFor();
      const params = await root.getParams();
      const publicKey = Buffer.from(
        z
          .string()
          .regex(/^[0-9a-fA-F]{64}$/)
          .parse(args[0]),
        'hex',
      );
      const proxy = await ensureProxy(chain, {
        owner: chain.wallet,
        root: root.address,
        publicKey,
        closeDelay: params.proxyCloseDelay,
        clientCloseDelay: params.clientCloseDelay,
        stake: toNano(
          z
            .string()
            .regex(/^\d+(\.\d+)?$/)
            .parse(args[1]),
        ),
      });
      console.log(`Proxy contract: ${proxy.address.toString()}`);
      break;
    }
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
} finally {
  await chain.close();
}
