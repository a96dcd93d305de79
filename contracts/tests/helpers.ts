import { type Address, type Cell, type Transaction, toNano } from '@ton/core';
import { getSecureRandomBytes, type KeyPair, keyPairFromSeed } from '@ton/crypto';
import { Blockchain, type SandboxContract, type TreasuryContract } from '@ton/sandbox';
import { type FlatTransactionComparable, findTransaction, flattenTransaction } from '@ton/test-utils';
import { expect } from 'vitest';
import { type ContractCodes, loadContractCodes } from '../src/compile.js';
import { basechainFeePrices, gasFee, mainnetFeeConfig } from '../src/fees.js';
import { type ClientConfig, ClientContract } from '../wrappers/Client.js';
import { GasBound, MIN_STORAGE_RESERVE } from '../wrappers/constants.js';
import { ProxyContract } from '../wrappers/Proxy.js';
import { WorkerContract } from '../wrappers/Worker.js';

export const START_TIME = 1_780_000_000;

let feeConfig: Cell | undefined;

export async function createChain(): Promise<Blockchain> {
  feeConfig ??= mainnetFeeConfig();
  const chain = await Blockchain.create({ config: feeConfig });
  chain.now = START_TIME;
  return chain;
}

export function codes(): Promise<ContractCodes> {
  return loadContractCodes();
}

export async function newKeyPair(): Promise<KeyPair> {
  return keyPairFromSeed(await getSecureRandomBytes(32));
}

/** Asserts one transaction in `txs` matches and returns it. */
export function expectTx(txs: Transaction[], match: FlatTransactionComparable): Transaction {
  const found = findTransaction(txs, match);
  if (!found) {
    const flat = txs.map((tx) => {
      const f = flattenTransaction(tx);
      return {
        from: f.from?.toString(),
        to: f.to?.toString(),
        op: f.op,
        exitCode: f.exitCode,
        success: f.success,
        aborted: f.aborted,
      };
    });
    const wanted = Object.entries(match).map(([k, v]) => `${k}=${String(v)}`);
    expect.fail(`no transaction matches ${wanted.join(' ')}\n${JSON.stringify(flat, null, 1)}`);
  }
  return found;
}

export function expectNoTx(txs: Transaction[], match: FlatTransactionComparable): void {
  expect(findTransaction(txs, match)).toBeUndefined();
}

/** Value of the first outbound internal message of a transaction. */
export function outValue(tx: Transaction, index = 0): bigint {
  const msg = tx.outMessages.get(index);
  if (msg?.info.type !== 'internal') throw new Error('no internal out message');
  return msg.info.value.coins;
}

/** Compute-phase gas used by a transaction. */
export function gasUsed(tx: Transaction): bigint {
  const d = tx.description;
  return d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.gasUsed : 0n;
}

export interface Actors {
  chain: Blockchain;
  codes: ContractCodes;
  rootOwner: SandboxContract<TreasuryContract>;
  proxyOwner: SandboxContract<TreasuryContract>;
  clientOwner: SandboxContract<TreasuryContract>;
  workerOwner: SandboxContract<TreasuryContract>;
  stranger: SandboxContract<TreasuryContract>;
  proxyKeys: KeyPair;
  clientKeys: KeyPair;
  proxy: SandboxContract<ProxyContract>;
  client: SandboxContract<ClientContract>;
  worker: SandboxContract<WorkerContract>;
  clientConfig: ClientConfig;
}

export const CLIENT_CLOSE_DELAY = 86_400;
export const PROXY_CLOSE_DELAY = 86_400;
export const PROXY_STAKE = toNano('15');

/** A proxy with its stake deployed, plus (not yet deployed) Client and Worker contracts for it. */
export async function setupActors(): Promise<Actors> {
  const chain = await createChain();
  const c = await codes();
  const [rootOwner, proxyOwner, clientOwner, workerOwner, stranger] = (await Promise.all(
    ['root-owner', 'proxy-owner', 'client-owner', 'worker-owner', 'stranger'].map((seed) =>
      chain.treasury(seed),
    ),
  )) as [
    SandboxContract<TreasuryContract>,
    SandboxContract<TreasuryContract>,
    SandboxContract<TreasuryContract>,
    SandboxContract<TreasuryContract>,
    SandboxContract<TreasuryContract>,
  ];
  const proxyKeys = await newKeyPair();
  const clientKeys = await newKeyPair();
  const proxy = chain.openContract(
    ProxyContract.createFromConfig(
      {
        owner: proxyOwner.address,
        root: rootOwner.address,
        publicKey: proxyKeys.publicKey,
        closeDelay: PROXY_CLOSE_DELAY,
        clientCloseDelay: CLIENT_CLOSE_DELAY,
        clientCode: c.client,
        workerCode: c.worker,
      },
      c.proxy,
    ),
  );
  await proxy.sendAddStake(proxyOwner.getSender(), { value: PROXY_STAKE });
  const clientConfig: ClientConfig = {
    owner: clientOwner.address,
    clientPublicKey: clientKeys.publicKey,
    closeDelay: CLIENT_CLOSE_DELAY,
    proxy: proxy.address,
    proxyPublicKey: proxyKeys.publicKey,
  };
  const client = chain.openContract(ClientContract.createFromConfig(clientConfig, c.client));
  const worker = chain.openContract(
    WorkerContract.createFromConfig(
      { owner: workerOwner.address, proxy: proxy.address, proxyPublicKey: proxyKeys.publicKey },
      c.worker,
    ),
  );
  return {
    chain,
    codes: c,
    rootOwner,
    proxyOwner,
    clientOwner,
    workerOwner,
    stranger,
    proxyKeys,
    clientKeys,
    proxy,
    client,
    worker,
    clientConfig,
  };
}

export function feePrices() {
  feeConfig ??= mainnetFeeConfig();
  return basechainFeePrices(feeConfig);
}

/** Expected credit of a top-up of `value`: the value less the fee for the top-up gas bound. */
export function credited(value: bigint): bigint {
  return value - gasFee(feePrices(), GasBound.topUp);
}

/** Expected credit of a contract's first deposit, which also funds its storage reserve. */
export function firstCredit(value: bigint): bigint {
  return credited(value) - MIN_STORAGE_RESERVE;
}

export async function tonBalance(chain: Blockchain, address: Address): Promise<bigint> {
  return (await chain.getContract(address)).balance;
}

/**
 * Nanoton conservation over one transaction: what the account had plus what came in equals what it
 * has plus what it sent, its fees, and the forwarding fees its messages carry.
 */
export function expectConserved(tx: Transaction, balanceBefore: bigint, balanceAfter: bigint): void {
  const inValue = tx.inMessage?.info.type === 'internal' ? tx.inMessage.info.value.coins : 0n;
  let sent = 0n;
  for (const msg of tx.outMessages.values()) {
    if (msg.info.type === 'internal') sent += msg.info.value.coins + msg.info.forwardFee;
  }
  expect(balanceBefore + inValue).toBe(balanceAfter + sent + tx.totalFees.coins);
}
