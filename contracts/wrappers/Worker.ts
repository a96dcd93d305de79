import {
  type Address,
  beginCell,
  type Cell,
  type Contract,
  type ContractProvider,
  contractAddress,
  type Sender,
} from '@ton/core';
import { keyFromBigint, proxyLinkCell } from './Client.js';
import { Op, Value } from './constants.js';
import { opBody, sendBody } from './message.js';
import { signAmount } from './signing.js';

export interface WorkerConfig {
  /** The worker's wallet: payouts go there. */
  owner: Address;
  proxy: Address;
  proxyPublicKey: Buffer;
}

export interface WorkerState extends WorkerConfig {
  paidTotal: bigint;
}

export function workerInitData(config: WorkerConfig): Cell {
  const configCell = beginCell()
    .storeAddress(config.owner)
    .storeRef(proxyLinkCell(config.proxy, config.proxyPublicKey))
    .endCell();
  return beginCell().storeCoins(0).storeRef(configCell).endCell();
}

export class WorkerContract implements Contract {
  constructor(
    readonly address: Address,
    readonly init?: { code: Cell; data: Cell },
  ) {}

  static createFromAddress(address: Address): WorkerContract {
    return new WorkerContract(address);
  }

  static createFromConfig(config: WorkerConfig, code: Cell, workchain = 0): WorkerContract {
    const init = { code, data: workerInitData(config) };
    return new WorkerContract(contractAddress(workchain, init), init);
  }

  async sendDeploy(provider: ContractProvider, via: Sender, value: bigint = Value.deploy): Promise<void> {
    await sendBody(provider, via, value, beginCell().endCell());
  }

  /** Claims the cumulative `total` signed by the proxy (see `signPayout`); anyone may send it. */
  async sendPayout(
    provider: ContractProvider,
    via: Sender,
    opts: { total: bigint; signature: Buffer; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.payout, opts.queryId)
      .storeCoins(opts.total)
      .storeBuffer(opts.signature, 64)
      .endCell();
    await sendBody(provider, via, opts.value ?? Value.payout, body);
  }

  async getState(provider: ContractProvider): Promise<WorkerState> {
    const { stack } = await provider.get('get_worker_state', []);
    return {
      paidTotal: stack.readBigNumber(),
      owner: stack.readAddress(),
      proxy: stack.readAddress(),
      proxyPublicKey: keyFromBigint(stack.readBigNumber()),
    };
  }
}

/** The proxy's signature on a worker's cumulative earnings, for its Worker contract at `worker`. */
export function signPayout(opts: {
  worker: Address;
  total: bigint;
  queryId?: bigint;
  secretKey: Buffer;
}): Buffer {
  return Buffer.from(
    signAmount(
      { op: Op.payout, queryId: opts.queryId ?? 0n, total: opts.total, target: opts.worker },
      opts.secretKey,
    ),
  );
}
