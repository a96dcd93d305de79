// A client account of this process's wallet: the key, voucher totals and funded Client contract every
// composed role (the gateway, the CLI, the Telegram app) pays the network from.
import { join } from 'node:path';
import type { Chain } from '@cocoon/contracts';
import { clientContractFor, type ProxyLink } from '@cocoon/proxy';
import {
  type AttestationPolicy,
  CocoonClient,
  type CocoonClientOptions,
  type Config,
  systemClock,
  toHex,
} from '@cocoon/shared';
import { FreshCollateral, pccsCollateralFetcher } from '@cocoon/shared/attestation/collateral';
import { FileVoucherStore } from '@cocoon/shared/client/voucher-file';
import { keyFileOptions, loadOrCreateKey } from '@cocoon/shared/key-file';
import type { Logger } from '@cocoon/shared/log';
import type { Address } from '@ton/core';

/** The CocoonClient options that follow from settings: its price ceiling, and whose collateral it trusts. */
export const clientSettingsOf = (
  config: Config,
  log?: Logger,
): Pick<CocoonClientOptions, 'maxPricePerToken' | 'freshCollateral'> => ({
  ...(config.CLIENT_MAX_PRICE_PER_TOKEN === undefined
    ? {}
    : { maxPricePerToken: config.CLIENT_MAX_PRICE_PER_TOKEN }),
  ...(config.CLIENT_COLLATERAL === 'pccs'
    ? {
        freshCollateral: new FreshCollateral(pccsCollateralFetcher(config.PCCS_URL), systemClock, {
          ...(log ? { log } : {}),
        }),
      }
    : {}),
});

export interface LocalClientOptions {
  name: string;
  /** The wallet owning the Client contract (the one that may withdraw); default: this process's wallet. */
  owner?: Address;
  chain: Chain;
  link: ProxyLink;
  clientCode: Parameters<typeof clientContractFor>[3];
  config: Config;
  proxyUrl: string;
  policy: { read(): Promise<AttestationPolicy> };
  log: Logger;
}

/**
 * A client account of the local wallet: its key and voucher totals in the data folder, its Client contract
 * funded with CLIENT_DEPOSIT the first time (the deposit its vouchers are charged against).
 */
export async function localClient(
  options: LocalClientOptions,
): Promise<{ client: CocoonClient; account: { owner: string; contract: string } }> {
  const { name, chain, link, config } = options;
  const owner = options.owner ?? chain.wallet;
  const clientKey = await loadOrCreateKey(config.COCOON_DATA_DIR, name, keyFileOptions(config));
  const contract = chain.open(clientContractFor(link, owner, toHex(clientKey.publicKey), options.clientCode));
  if (!(await chain.isDeployed(contract.address))) {
    await contract.sendTopUp(chain.sender, { value: config.CLIENT_DEPOSIT });
    options.log.info({ client: name, contract: contract.address.toString() }, 'client contract funded');
  }
  const account = { owner: owner.toString(), contract: contract.address.toString() };
  const client = new CocoonClient({
    proxyUrl: options.proxyUrl,
    clientKey,
    policy: () => options.policy.read(),
    ...clientSettingsOf(config, options.log),
    vouchers: {
      ...account,
      store: new FileVoucherStore(join(config.COCOON_DATA_DIR, `${name}-vouchers.json`)),
    },
  });
  return { client, account };
}
