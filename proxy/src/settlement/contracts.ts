// The settlement port over the real contracts: Client and Worker contract addresses from init data (as the
// Proxy contract computes them), their on-chain totals, and Charge / Payout messages through a `Chain`.
import {
  type Chain,
  ClientContract,
  type ProxyContract,
  type RootContract,
  Value,
  WorkerContract,
} from '@cocoon/contracts';
import { type Address, type Cell, type OpenedContract, Address as TonAddress } from '@ton/core';
import type { ChainStateRecord, ClientAccount, SettlementChain, SignedTotal } from './port.js';

/** Whatever fixes a proxy's Client and Worker contracts: the Proxy contract and what its init data holds. */
export interface ProxyLink {
  /** The Proxy contract's address. */
  proxy: Address;
  /** The proxy's Ed25519 public key (signs payouts and cooperative closes). */
  proxyPublicKey: Buffer;
  /** The client close delay in the Proxy contract's config (seconds). */
  clientCloseDelay: number;
}

const keyBuffer = (hex: string): Buffer => {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new RangeError('a public key is 32 bytes of lowercase hex');
  return Buffer.from(hex, 'hex');
};

/** The Client contract of `owner` (a wallet) and `clientKey` (the client account, hex) for this proxy. */
export function clientContractFor(
  link: ProxyLink,
  owner: Address,
  clientKey: string,
  clientCode: Cell,
): ClientContract {
  return ClientContract.createFromConfig(
    {
      owner,
      clientPublicKey: keyBuffer(clientKey),
      closeDelay: link.clientCloseDelay,
      proxy: link.proxy,
      proxyPublicKey: link.proxyPublicKey,
    },
    clientCode,
  );
}

/** The Worker contract paying `owner` (the worker's payout wallet) for this proxy. */
export function workerContractFor(link: ProxyLink, owner: Address, workerCode: Cell): WorkerContract {
  return WorkerContract.createFromConfig(
    { owner, proxy: link.proxy, proxyPublicKey: link.proxyPublicKey },
    workerCode,
  );
}

export interface ContractSettlementOptions {
  link: ProxyLink;
  proxy: OpenedContract<ProxyContract>;
  root: OpenedContract<RootContract>;
  codes: { client: Cell; worker: Cell };
  /**
   * Value attached to each Charge / Payout (pays its gas; the change ends up with the Proxy contract), and
   * to each state record (the change stays with the Proxy contract for its owner's next withdrawal).
   */
  messageValue?: { charge?: bigint; payout?: bigint; stateRecord?: bigint };
}

/**
 * The proxy's settlement port over the real contracts. Addresses are strings (any form @ton/core parses)
 * in, raw form (`0:…`) out; a contract not deployed yet reads as zero totals.
 */
export function contractSettlement(chain: Chain, options: ContractSettlementOptions): SettlementChain {
  const { link, codes } = options;
  const workerOf = (payoutAddress: string) =>
    chain.open(workerContractFor(link, TonAddress.parse(payoutAddress), codes.worker));
  return {
    clientContractAddress(owner: string, clientKey: string): string {
      return clientContractFor(link, TonAddress.parse(owner), clientKey, codes.client).address.toRawString();
    },

    workerContractAddress(payoutAddress: string): string {
      return workerOf(payoutAddress).address.toRawString();
    },

    async clientAccount(contract: string): Promise<ClientAccount | undefined> {
      const address = TonAddress.parse(contract);
      if (!(await chain.isDeployed(address))) return undefined;
      const state = await chain.open(ClientContract.createFromAddress(address)).getState();
      return {
        balance: state.balance,
        stake: state.stake,
        chargedTotal: state.chargedTotal,
        closing: state.closeAt !== 0,
      };
    },

    async workerPaidTotal(payoutAddress: string): Promise<bigint> {
      const worker = workerOf(payoutAddress);
      if (!(await chain.isDeployed(worker.address))) return 0n;
      return (await worker.getState()).paidTotal;
    },

    async proxyBalance(): Promise<bigint> {
      if (!(await chain.isDeployed(options.proxy.address))) return 0n;
      return (await options.proxy.getState()).balance;
    },

    async rates(): Promise<{ pricePerToken: bigint; workerFeePerToken: bigint }> {
      const params = await options.root.getParams();
      return { pricePerToken: params.pricePerToken, workerFeePerToken: params.workerFeePerToken };
    },

    async sendCharge(contract: string, signed: SignedTotal): Promise<void> {
      const client = chain.open(ClientContract.createFromAddress(TonAddress.parse(contract)));
      await client.sendCharge(chain.sender, {
        total: signed.total,
        queryId: signed.queryId,
        signature: Buffer.from(signed.signature),
        value: options.messageValue?.charge ?? Value.charge,
      });
    },

    /** The first payout carries the Worker contract's state init, so it deploys it. */
    async sendPayout(payoutAddress: string, signed: SignedTotal): Promise<void> {
      await workerOf(payoutAddress).sendPayout(chain.sender, {
        total: signed.total,
        queryId: signed.queryId,
        signature: Buffer.from(signed.signature),
        value: options.messageValue?.payout ?? Value.payout,
      });
    },

    async stateRecord(): Promise<ChainStateRecord> {
      if (!(await chain.isDeployed(options.proxy.address)))
        return { seqno: 0n, stateHash: '0'.repeat(64), at: 0 };
      const record = await options.proxy.getStateRecord();
      return { seqno: record.seqno, stateHash: record.stateHash.toString('hex'), at: record.at };
    },

    async sendStateRecord(seqno: bigint, stateHash: string): Promise<void> {
      await options.proxy.sendRecordState(chain.sender, {
        seqno,
        stateHash: Buffer.from(stateHash, 'hex'),
        value: options.messageValue?.stateRecord ?? Value.ownerOp,
      });
    },
  };
}
