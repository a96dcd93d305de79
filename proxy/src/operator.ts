// A proxy operator on chain: its key (in the data folder), its staked Proxy contract registered in the Root,
// and the settlement port and settings that follow from them. Used by `cocoon-proxy` and the embedded network.
import { type Chain, ensureProxy, loadContractCodes, type RootContract } from '@cocoon/contracts';
import { type Config, maxAmount, systemClock } from '@cocoon/shared';
import { keyFileOptions, loadOrCreateKey } from '@cocoon/shared/key-file';
import type { Logger } from '@cocoon/shared/log';
import type { OpenedContract } from '@ton/core';
import type { Kysely } from 'kysely';
import type { CreditSource } from './credit.js';
import { StoreCredit } from './credit.js';
import type { ProxyDb } from './db.js';
import { ChainAllowance } from './settlement/allowance.js';
import { contractSettlement, type ProxyLink } from './settlement/contracts.js';
import type { SettlementChain } from './settlement/port.js';
import { SettlementSettings } from './settlement/settings.js';

export interface ProxyOperator {
  link: ProxyLink;
  secretKey: Uint8Array;
  settlementChain: SettlementChain;
  settings: Partial<SettlementSettings> & Pick<SettlementSettings, 'creditWindow'>;
  clientCode: Awaited<ReturnType<typeof loadContractCodes>>['client'];
  /** Credit backed by each client's on-chain deposit and signed totals. */
  credit(db: Kysely<ProxyDb>, log?: Logger): CreditSource;
}

export async function startProxyOperator(
  chain: Chain,
  root: OpenedContract<RootContract>,
  config: Config,
): Promise<ProxyOperator> {
  const key = await loadOrCreateKey(config.COCOON_DATA_DIR, 'proxy', keyFileOptions(config));
  const params = await root.getParams();
  const proxyPublicKey = Buffer.from(key.publicKey);
  const proxy = await ensureProxy(chain, {
    owner: chain.wallet,
    root: root.address,
    publicKey: proxyPublicKey,
    closeDelay: params.proxyCloseDelay,
    clientCloseDelay: params.clientCloseDelay,
    stake: maxAmount(config.PROXY_STAKE, params.minProxyStake),
  });
  if (!(await root.getIsProxyRegistered(proxy.address))) {
    // Only the Root's owner can register a proxy: on a real network that is an administrator's step.
    if (chain.network !== 'sandbox')
      throw new Error(`the Root does not list proxy ${proxy.address}: ask its owner to register it`);
    await root.sendSetProxy(chain.sender, { proxy: proxy.address, allowed: true });
  }
  const link: ProxyLink = { proxy: proxy.address, proxyPublicKey, clientCloseDelay: params.clientCloseDelay };
  const codes = await loadContractCodes();
  const settlementChain = contractSettlement(chain, { link, proxy, root, codes });
  const settings = {
    chargeThreshold: config.PROXY_CHARGE_THRESHOLD,
    payoutThreshold: config.PROXY_PAYOUT_THRESHOLD,
    chargeIntervalMs: config.PROXY_CHARGE_INTERVAL_SECONDS * 1000,
    payoutIntervalMs: config.PROXY_PAYOUT_INTERVAL_SECONDS * 1000,
    creditWindow: config.PROXY_CREDIT_WINDOW,
    stateIntervalMs: config.PROXY_STATE_INTERVAL_SECONDS * 1000,
    // The sandbox runs every message a send causes before the send returns: no bounce lands later.
    ...(chain.network === 'sandbox' ? { bounceWindowMs: 0 } : {}),
  };
  return {
    link,
    secretKey: key.secretKey,
    settlementChain,
    settings,
    clientCode: codes.client,
    credit: (db, log) =>
      new StoreCredit(
        db,
        new ChainAllowance(db, settlementChain, SettlementSettings.parse(settings), systemClock),
        log === undefined ? {} : { log },
      ),
  };
}
