// Deploys Cocoon's contracts on a `Chain` when they are not there yet (idempotent: addresses come from init data).
import type { Address, OpenedContract } from '@ton/core';
import { Value } from '../wrappers/constants.js';
import { type ProxyConfig, ProxyContract } from '../wrappers/Proxy.js';
import { RootContract, type RootParams } from '../wrappers/Root.js';
import type { Chain } from './chain/types.js';
import { loadContractCodes } from './compile.js';

export class DeployError extends Error {
  constructor(what: string, address: Address) {
    super(`${what} at ${address.toString()} is still not deployed after its deploy message`);
    this.name = 'DeployError';
  }
}

/** On a real network the deploy message lands a block or two after the wallet accepted it. */
async function requireDeployed(
  chain: Chain,
  what: string,
  address: Address,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await chain.isDeployed(address))) {
    if (Date.now() >= deadline) throw new DeployError(what, address);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}

export async function ensureRoot(
  chain: Chain,
  opts: { owner: Address; params: RootParams },
): Promise<OpenedContract<RootContract>> {
  const codes = await loadContractCodes();
  const root = chain.open(RootContract.createFromConfig(opts, codes.root));
  if (!(await chain.isDeployed(root.address))) {
    await root.sendDeploy(chain.sender, Value.deploy);
    await requireDeployed(chain, 'Root contract', root.address);
  }
  return root;
}

export async function ensureProxy(
  chain: Chain,
  opts: Omit<ProxyConfig, 'clientCode' | 'workerCode'> & { stake: bigint },
): Promise<OpenedContract<ProxyContract>> {
  const codes = await loadContractCodes();
  const { stake, ...config } = opts;
  const proxy = chain.open(
    ProxyContract.createFromConfig(
      { ...config, clientCode: codes.client, workerCode: codes.worker },
      codes.proxy,
    ),
  );
  if (!(await chain.isDeployed(proxy.address))) {
    await proxy.sendAddStake(chain.sender, { value: stake });
    await requireDeployed(chain, 'Proxy contract', proxy.address);
  }
  return proxy;
}
