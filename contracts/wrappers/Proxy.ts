import {
  type Address,
  beginCell,
  type Cell,
  type Contract,
  type ContractProvider,
  contractAddress,
  type Sender,
} from '@ton/core';
import { bigintFromKey, keyFromBigint } from './Client.js';
import { Op, Value } from './constants.js';
import { opBody, sendBody } from './message.js';

export interface ProxyConfig {
  /** The proxy operator's wallet: commission and the stake go there. */
  owner: Address;
  root: Address;
  /** Signs worker payouts and cooperative closes. */
  publicKey: Buffer;
  closeDelay: number;
  clientCloseDelay: number;
  clientCode: Cell;
  workerCode: Cell;
}

export interface ProxyState {
  balance: bigint;
  stake: bigint;
  /** 0 open, 1 closing, 2 closed. */
  state: number;
  closeAt: number;
}

/** The proxy's latest settlement state hash as its contract recorded it (all zero before the first). */
export interface StateRecord {
  seqno: bigint;
  stateHash: Buffer;
  /** Unix time the chain recorded it. */
  at: number;
}

export function proxyInitData(config: ProxyConfig): Cell {
  const configCell = beginCell()
    .storeAddress(config.owner)
    .storeAddress(config.root)
    .storeUint(bigintFromKey(config.publicKey), 256)
    .storeUint(config.closeDelay, 32)
    .storeUint(config.clientCloseDelay, 32)
    .storeRef(config.clientCode)
    .storeRef(config.workerCode)
    .endCell();
  return beginCell()
    .storeCoins(0)
    .storeCoins(0)
    .storeUint(0, 2)
    .storeUint(0, 32)
    .storeUint(0, 64 + 256 + 32) // the state record: seqno, hash, time
    .storeRef(configCell)
    .endCell();
}

export class ProxyContract implements Contract {
  constructor(
    readonly address: Address,
    readonly init?: { code: Cell; data: Cell },
  ) {}

  static createFromAddress(address: Address): ProxyContract {
    return new ProxyContract(address);
  }

  static createFromConfig(config: ProxyConfig, code: Cell, workchain = 0): ProxyContract {
    const init = { code, data: proxyInitData(config) };
    return new ProxyContract(contractAddress(workchain, init), init);
  }

  /** Deploys with a stake (anyone may add to it while the proxy is open). */
  async sendAddStake(provider: ContractProvider, via: Sender, opts: { value: bigint; queryId?: bigint }) {
    const body = opBody(Op.addProxyStake, opts.queryId).endCell();
    await sendBody(provider, via, opts.value, body);
  }

  async sendWithdrawCommission(
    provider: ContractProvider,
    via: Sender,
    opts: { amount: bigint; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.withdrawCommission, opts.queryId).storeCoins(opts.amount).endCell();
    await sendBody(provider, via, opts.value ?? Value.ownerOp, body);
  }

  async sendRequestClose(
    provider: ContractProvider,
    via: Sender,
    opts: { queryId?: bigint; value?: bigint } = {},
  ) {
    const body = opBody(Op.requestProxyClose, opts.queryId).endCell();
    await sendBody(provider, via, opts.value ?? Value.ownerOp, body);
  }

  async sendClose(provider: ContractProvider, via: Sender, opts: { queryId?: bigint; value?: bigint } = {}) {
    const body = opBody(Op.closeProxy, opts.queryId).endCell();
    await sendBody(provider, via, opts.value ?? Value.ownerOp, body);
  }

  /**
   * Records the proxy's settlement state hash (owner only; `seqno` must exceed the recorded one). No reply:
   * the unspent value stays with the contract and reaches the owner with the next commission withdrawal.
   */
  async sendRecordState(
    provider: ContractProvider,
    via: Sender,
    opts: { seqno: bigint; stateHash: Buffer; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    if (opts.stateHash.length !== 32) throw new RangeError('a state hash is 32 bytes');
    const body = opBody(Op.recordState, opts.queryId)
      .storeUint(opts.seqno, 64)
      .storeBuffer(opts.stateHash)
      .endCell();
    await sendBody(provider, via, opts.value ?? Value.ownerOp, body);
  }

  async getStateRecord(provider: ContractProvider): Promise<StateRecord> {
    const { stack } = await provider.get('get_state_record', []);
    return {
      seqno: stack.readBigNumber(),
      stateHash: keyFromBigint(stack.readBigNumber()),
      at: stack.readNumber(),
    };
  }

  async getState(provider: ContractProvider): Promise<ProxyState> {
    const { stack } = await provider.get('get_proxy_state', []);
    return {
      balance: stack.readBigNumber(),
      stake: stack.readBigNumber(),
      state: stack.readNumber(),
      closeAt: stack.readNumber(),
    };
  }

  async getConfig(provider: ContractProvider): Promise<Omit<ProxyConfig, 'clientCode' | 'workerCode'>> {
    const { stack } = await provider.get('get_proxy_config', []);
    return {
      owner: stack.readAddress(),
      root: stack.readAddress(),
      publicKey: keyFromBigint(stack.readBigNumber()),
      closeDelay: stack.readNumber(),
      clientCloseDelay: stack.readNumber(),
    };
  }

  async getClientAddress(
    provider: ContractProvider,
    owner: Address,
    clientPublicKey: Buffer,
  ): Promise<Address> {
    const { stack } = await provider.get('get_client_address', [
      { type: 'slice', cell: beginCell().storeAddress(owner).endCell() },
      { type: 'int', value: bigintFromKey(clientPublicKey) },
    ]);
    return stack.readAddress();
  }

  async getWorkerAddress(provider: ContractProvider, owner: Address): Promise<Address> {
    const { stack } = await provider.get('get_worker_address', [
      { type: 'slice', cell: beginCell().storeAddress(owner).endCell() },
    ]);
    return stack.readAddress();
  }
}
