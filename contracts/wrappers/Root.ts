import {
  type Address,
  beginCell,
  type Cell,
  type Contract,
  type ContractProvider,
  contractAddress,
  Dictionary,
  type Sender,
  type TupleReader,
} from '@ton/core';
import { Op, Value } from './constants.js';
import { opBody, sendBody } from './message.js';

export interface RootParams {
  pricePerToken: bigint;
  workerFeePerToken: bigint;
  /** Multipliers per token kind; 10000 is 1x. */
  promptMultiplier: number;
  cachedMultiplier: number;
  completionMultiplier: number;
  reasoningMultiplier: number;
  /** Seconds. */
  clientCloseDelay: number;
  proxyCloseDelay: number;
  minClientStake: bigint;
  minProxyStake: bigint;
}

export interface RootConfig {
  owner: Address;
  params: RootParams;
}

export interface RootLists {
  workerImages: bigint[];
  proxyImages: bigint[];
  /** Model hash -> price coefficient (10000 is 1x). */
  models: Map<bigint, number>;
  proxies: Address[];
}

export function rootParamsToCell(p: RootParams): Cell {
  return beginCell()
    .storeCoins(p.pricePerToken)
    .storeCoins(p.workerFeePerToken)
    .storeUint(p.promptMultiplier, 32)
    .storeUint(p.cachedMultiplier, 32)
    .storeUint(p.completionMultiplier, 32)
    .storeUint(p.reasoningMultiplier, 32)
    .storeUint(p.clientCloseDelay, 32)
    .storeUint(p.proxyCloseDelay, 32)
    .storeCoins(p.minClientStake)
    .storeCoins(p.minProxyStake)
    .endCell();
}

function readRootParams(r: TupleReader): RootParams {
  return {
    pricePerToken: r.readBigNumber(),
    workerFeePerToken: r.readBigNumber(),
    promptMultiplier: r.readNumber(),
    cachedMultiplier: r.readNumber(),
    completionMultiplier: r.readNumber(),
    reasoningMultiplier: r.readNumber(),
    clientCloseDelay: r.readNumber(),
    proxyCloseDelay: r.readNumber(),
    minClientStake: r.readBigNumber(),
    minProxyStake: r.readBigNumber(),
  };
}

/** Reference values (Telegram's Cocoon, 2026): 20 nanoTON per token, worker 19, 15 TON stakes, a day. */
export const DEFAULT_ROOT_PARAMS: RootParams = {
  pricePerToken: 20n,
  workerFeePerToken: 19n,
  promptMultiplier: 10000,
  cachedMultiplier: 1000,
  completionMultiplier: 10000,
  reasoningMultiplier: 10000,
  clientCloseDelay: 86_400,
  proxyCloseDelay: 86_400,
  minClientStake: 15_000_000_000n,
  minProxyStake: 15_000_000_000n,
};

export function rootConfigToCell(config: RootConfig): Cell {
  const emptyLists = beginCell().storeBit(0).storeBit(0).storeBit(0).storeBit(0).endCell();
  return beginCell()
    .storeAddress(config.owner)
    .storeAddress(null)
    .storeUint(0, 32)
    .storeRef(rootParamsToCell(config.params))
    .storeRef(emptyLists)
    .endCell();
}

export interface RootState {
  owner: Address;
  pendingOwner: Address | null;
  version: number;
}

export class RootContract implements Contract {
  constructor(
    readonly address: Address,
    readonly init?: { code: Cell; data: Cell },
  ) {}

  static createFromAddress(address: Address): RootContract {
    return new RootContract(address);
  }

  static createFromConfig(config: RootConfig, code: Cell, workchain = 0): RootContract {
    const init = { code, data: rootConfigToCell(config) };
    return new RootContract(contractAddress(workchain, init), init);
  }

  async sendDeploy(provider: ContractProvider, via: Sender, value: bigint = Value.deploy): Promise<void> {
    await sendBody(provider, via, value, beginCell().endCell());
  }

  private async sendOwnerOp(
    provider: ContractProvider,
    via: Sender,
    body: Cell,
    value: bigint,
  ): Promise<void> {
    await sendBody(provider, via, value, body);
  }

  async sendTransferOwnership(
    provider: ContractProvider,
    via: Sender,
    opts: { newOwner: Address; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.transferOwnership, opts.queryId).storeAddress(opts.newOwner).endCell();
    await this.sendOwnerOp(provider, via, body, opts.value ?? Value.ownerOp);
  }

  async sendAcceptOwnership(
    provider: ContractProvider,
    via: Sender,
    opts: { queryId?: bigint; value?: bigint } = {},
  ): Promise<void> {
    const body = opBody(Op.acceptOwnership, opts.queryId).endCell();
    await this.sendOwnerOp(provider, via, body, opts.value ?? Value.ownerOp);
  }

  async sendSetWorkerImage(
    provider: ContractProvider,
    via: Sender,
    opts: { imageHash: bigint; allowed: boolean; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.setWorkerImage, opts.queryId)
      .storeUint(opts.imageHash, 256)
      .storeBit(opts.allowed)
      .endCell();
    await this.sendOwnerOp(provider, via, body, opts.value ?? Value.ownerOp);
  }

  async sendSetProxyImage(
    provider: ContractProvider,
    via: Sender,
    opts: { imageHash: bigint; allowed: boolean; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.setProxyImage, opts.queryId)
      .storeUint(opts.imageHash, 256)
      .storeBit(opts.allowed)
      .endCell();
    await this.sendOwnerOp(provider, via, body, opts.value ?? Value.ownerOp);
  }

  /** `priceCoefficient` 0 removes the model. */
  async sendSetModel(
    provider: ContractProvider,
    via: Sender,
    opts: { modelHash: bigint; priceCoefficient: number; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.setModel, opts.queryId)
      .storeUint(opts.modelHash, 256)
      .storeUint(opts.priceCoefficient, 32)
      .endCell();
    await this.sendOwnerOp(provider, via, body, opts.value ?? Value.ownerOp);
  }

  async sendSetProxy(
    provider: ContractProvider,
    via: Sender,
    opts: { proxy: Address; allowed: boolean; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.setProxy, opts.queryId).storeAddress(opts.proxy).storeBit(opts.allowed).endCell();
    await this.sendOwnerOp(provider, via, body, opts.value ?? Value.ownerOp);
  }

  async sendSetParams(
    provider: ContractProvider,
    via: Sender,
    opts: { params: RootParams; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.setParams, opts.queryId).storeRef(rootParamsToCell(opts.params)).endCell();
    await this.sendOwnerOp(provider, via, body, opts.value ?? Value.ownerOp);
  }

  async sendUpgradeCode(
    provider: ContractProvider,
    via: Sender,
    opts: { code: Cell; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.upgradeCode, opts.queryId).storeRef(opts.code).endCell();
    await this.sendOwnerOp(provider, via, body, opts.value ?? Value.ownerOp);
  }

  async getState(provider: ContractProvider): Promise<RootState> {
    const { stack } = await provider.get('get_root_state', []);
    return { owner: stack.readAddress(), pendingOwner: stack.readAddressOpt(), version: stack.readNumber() };
  }

  async getParams(provider: ContractProvider): Promise<RootParams> {
    const { stack } = await provider.get('get_params', []);
    return readRootParams(stack);
  }

  async getLists(provider: ContractProvider): Promise<RootLists> {
    const { stack } = await provider.get('get_lists', []);
    const hashSet = (cell: Cell | null) =>
      cell ? Dictionary.loadDirect(Dictionary.Keys.BigUint(256), Dictionary.Values.Bool(), cell).keys() : [];
    const workerImages = hashSet(stack.readCellOpt());
    const proxyImages = hashSet(stack.readCellOpt());
    const modelsCell = stack.readCellOpt();
    const models = new Map<bigint, number>();
    if (modelsCell) {
      const dict = Dictionary.loadDirect(
        Dictionary.Keys.BigUint(256),
        Dictionary.Values.Uint(32),
        modelsCell,
      );
      for (const [hash, coefficient] of dict) models.set(hash, coefficient);
    }
    const proxiesCell = stack.readCellOpt();
    const proxies = proxiesCell
      ? Dictionary.loadDirect(Dictionary.Keys.Address(), Dictionary.Values.Bool(), proxiesCell).keys()
      : [];
    return { workerImages, proxyImages, models, proxies };
  }

  async getIsWorkerImageAllowed(provider: ContractProvider, imageHash: bigint): Promise<boolean> {
    const { stack } = await provider.get('is_worker_image_allowed', [{ type: 'int', value: imageHash }]);
    return stack.readBoolean();
  }

  async getIsProxyImageAllowed(provider: ContractProvider, imageHash: bigint): Promise<boolean> {
    const { stack } = await provider.get('is_proxy_image_allowed', [{ type: 'int', value: imageHash }]);
    return stack.readBoolean();
  }

  /** 0 when the model is not allowed. */
  async getModelCoefficient(provider: ContractProvider, modelHash: bigint): Promise<number> {
    const { stack } = await provider.get('get_model_coefficient', [{ type: 'int', value: modelHash }]);
    return stack.readNumber();
  }

  async getIsProxyRegistered(provider: ContractProvider, proxy: Address): Promise<boolean> {
    const { stack } = await provider.get('is_proxy_registered', [
      { type: 'slice', cell: beginCell().storeAddress(proxy).endCell() },
    ]);
    return stack.readBoolean();
  }
}
