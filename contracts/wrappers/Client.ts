import {
  type Address,
  type Builder,
  beginCell,
  type Cell,
  type Contract,
  type ContractProvider,
  contractAddress,
  type Sender,
} from '@ton/core';
import { Op, Value } from './constants.js';
import { opBody, sendBody } from './message.js';
import { signAmount } from './signing.js';

/** Fixed at deploy; part of the address, so the Proxy contract can recompute it. */
export interface ClientConfig {
  owner: Address;
  clientPublicKey: Buffer;
  /** Seconds between a refund request and a forced refund. */
  closeDelay: number;
  proxy: Address;
  proxyPublicKey: Buffer;
}

export interface ClientState {
  balance: bigint;
  stake: bigint;
  chargedTotal: bigint;
  /** 0 when open, else the unix time from which a forced refund is allowed. */
  closeAt: number;
  closeSeqno: number;
}

/**
 * An optional top-up reference, opaque to the contract: a number (an app's user id) or a short text.
 * Layout after the query id: nothing, or `0` + uint64, or `1` + ^(snake string).
 */
export type TopUpReference = bigint | string;

export const MAX_TEXT_REFERENCE_BYTES = 120;

export function bigintFromKey(key: Buffer): bigint {
  if (key.length !== 32) throw new RangeError(`public key must be 32 bytes, got ${key.length}`);
  return BigInt(`0x${key.toString('hex')}`);
}

export function keyFromBigint(value: bigint): Buffer {
  return Buffer.from(value.toString(16).padStart(64, '0'), 'hex');
}

export function proxyLinkCell(proxy: Address, proxyPublicKey: Buffer): Cell {
  return beginCell().storeAddress(proxy).storeUint(bigintFromKey(proxyPublicKey), 256).endCell();
}

export function clientConfigToCell(config: ClientConfig): Cell {
  return beginCell()
    .storeAddress(config.owner)
    .storeUint(bigintFromKey(config.clientPublicKey), 256)
    .storeUint(config.closeDelay, 32)
    .storeRef(proxyLinkCell(config.proxy, config.proxyPublicKey))
    .endCell();
}

export function clientInitData(config: ClientConfig): Cell {
  return beginCell()
    .storeCoins(0)
    .storeCoins(0)
    .storeCoins(0)
    .storeUint(0, 32)
    .storeUint(0, 32)
    .storeRef(clientConfigToCell(config))
    .endCell();
}

export function storeTopUpReference(reference: TopUpReference | undefined): (b: Builder) => void {
  return (b) => {
    if (reference === undefined) return;
    if (typeof reference === 'bigint') {
      b.storeBit(0).storeUint(reference, 64);
      return;
    }
    const bytes = Buffer.from(reference, 'utf-8');
    if (bytes.length > MAX_TEXT_REFERENCE_BYTES) {
      throw new RangeError(`text reference is ${bytes.length} bytes; at most ${MAX_TEXT_REFERENCE_BYTES}`);
    }
    b.storeBit(1).storeRef(beginCell().storeBuffer(bytes).endCell());
  };
}

/** A TopUp message body, e.g. for a TonConnect transfer's payload (`body.toBoc().toString('base64')`). */
export function topUpBody(opts: { queryId?: bigint; reference?: TopUpReference } = {}): Cell {
  return opBody(Op.topUp, opts.queryId).store(storeTopUpReference(opts.reference)).endCell();
}

/** Parses a TopUp body (as a watcher sees it); undefined when the body is not a TopUp. */
export function parseTopUpBody(body: Cell): { queryId: bigint; reference?: TopUpReference } | undefined {
  const s = body.beginParse();
  if (s.remainingBits < 32 + 64 || s.loadUint(32) !== Op.topUp) return undefined;
  const queryId = s.loadUintBig(64);
  if (s.remainingBits === 0) return { queryId };
  if (!s.loadBit()) return { queryId, reference: s.loadUintBig(64) };
  const text = s.loadRef().beginParse();
  return { queryId, reference: text.loadBuffer(text.remainingBits / 8).toString('utf-8') };
}

/** The prefix of a bounced message's body: what follows is the start of the body that bounced. */
const BOUNCED_PREFIX = 0xffffffff;

/**
 * Parses a ClientPayment that came back bounced (the Proxy contract refused it, and the Client contract
 * undid its Charge): the Charge's query id and amount; undefined for any other body.
 */
export function parseBouncedPaymentBody(body: Cell): { queryId: bigint; amount: bigint } | undefined {
  const s = body.beginParse();
  if (s.remainingBits < 32 + 32 + 64 || s.loadUint(32) !== BOUNCED_PREFIX) return undefined;
  if (s.loadUint(32) !== Op.clientPayment) return undefined;
  return { queryId: s.loadUintBig(64), amount: s.loadCoins() };
}

/** Parses a Charge body (as a watcher sees it); undefined when the body is not a Charge. */
export function parseChargeBody(body: Cell): { queryId: bigint; total: bigint } | undefined {
  const s = body.beginParse();
  if (s.remainingBits < 32 + 64 || s.loadUint(32) !== Op.charge) return undefined;
  return { queryId: s.loadUintBig(64), total: s.loadCoins() };
}

export class ClientContract implements Contract {
  constructor(
    readonly address: Address,
    readonly init?: { code: Cell; data: Cell },
  ) {}

  static createFromAddress(address: Address): ClientContract {
    return new ClientContract(address);
  }

  static createFromConfig(config: ClientConfig, code: Cell, workchain = 0): ClientContract {
    const init = { code, data: clientInitData(config) };
    return new ClientContract(contractAddress(workchain, init), init);
  }

  /** Deploys by a top-up: the first deposit carries the state init. */
  async sendTopUp(
    provider: ContractProvider,
    via: Sender,
    opts: { value: bigint; reference?: TopUpReference; queryId?: bigint },
  ): Promise<void> {
    const body = topUpBody({ queryId: opts.queryId, reference: opts.reference });
    await sendBody(provider, via, opts.value, body);
  }

  async sendAddStake(provider: ContractProvider, via: Sender, opts: { value: bigint; queryId?: bigint }) {
    const body = opBody(Op.addStake, opts.queryId).endCell();
    await sendBody(provider, via, opts.value, body);
  }

  async sendWithdraw(
    provider: ContractProvider,
    via: Sender,
    opts: { amount: bigint; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.withdraw, opts.queryId).storeCoins(opts.amount).endCell();
    await sendBody(provider, via, opts.value ?? Value.ownerOp, body);
  }

  /** Charges the cumulative `total` with the client's signature (see `signCharge`). */
  async sendCharge(
    provider: ContractProvider,
    via: Sender,
    opts: { total: bigint; signature: Buffer; queryId?: bigint; value?: bigint },
  ): Promise<void> {
    const body = opBody(Op.charge, opts.queryId)
      .storeCoins(opts.total)
      .storeBuffer(opts.signature, 64)
      .endCell();
    await sendBody(provider, via, opts.value ?? Value.charge, body);
  }

  async sendRequestRefund(
    provider: ContractProvider,
    via: Sender,
    opts: { queryId?: bigint; value?: bigint } = {},
  ) {
    const body = opBody(Op.requestRefund, opts.queryId).endCell();
    await sendBody(provider, via, opts.value ?? Value.ownerOp, body);
  }

  async sendForceRefund(
    provider: ContractProvider,
    via: Sender,
    opts: { queryId?: bigint; value?: bigint } = {},
  ) {
    const body = opBody(Op.forceRefund, opts.queryId).endCell();
    await sendBody(provider, via, opts.value ?? Value.ownerOp, body);
  }

  /** Owner closes at once with the proxy's signature on the final total; `queryId` must be the close seqno. */
  async sendCooperativeClose(
    provider: ContractProvider,
    via: Sender,
    opts: { total: bigint; signature: Buffer; queryId: bigint; value?: bigint },
  ): Promise<void> {
    const body = beginCell()
      .storeUint(Op.cooperativeClose, 32)
      .storeUint(opts.queryId, 64)
      .storeCoins(opts.total)
      .storeBuffer(opts.signature, 64)
      .endCell();
    await sendBody(provider, via, opts.value ?? Value.ownerOp, body);
  }

  async getState(provider: ContractProvider): Promise<ClientState> {
    const { stack } = await provider.get('get_client_state', []);
    return {
      balance: stack.readBigNumber(),
      stake: stack.readBigNumber(),
      chargedTotal: stack.readBigNumber(),
      closeAt: stack.readNumber(),
      closeSeqno: stack.readNumber(),
    };
  }

  async getConfig(provider: ContractProvider): Promise<ClientConfig> {
    const { stack } = await provider.get('get_client_config', []);
    return {
      owner: stack.readAddress(),
      clientPublicKey: keyFromBigint(stack.readBigNumber()),
      closeDelay: stack.readNumber(),
      proxy: stack.readAddress(),
      proxyPublicKey: keyFromBigint(stack.readBigNumber()),
    };
  }
}

/** The client's signature on a cumulative total for its Client contract at `client`. */
export function signCharge(opts: {
  client: Address;
  total: bigint;
  queryId?: bigint;
  secretKey: Buffer;
}): Buffer {
  return Buffer.from(
    signAmount(
      { op: Op.charge, queryId: opts.queryId ?? 0n, total: opts.total, target: opts.client },
      opts.secretKey,
    ),
  );
}

/** The proxy's consent to close a Client contract whose charged total is `total`. */
export function signCooperativeClose(opts: {
  client: Address;
  total: bigint;
  closeSeqno: number;
  secretKey: Buffer;
}): Buffer {
  return Buffer.from(
    signAmount(
      { op: Op.cooperativeClose, queryId: BigInt(opts.closeSeqno), total: opts.total, target: opts.client },
      opts.secretKey,
    ),
  );
}
