// A TonConnect wallet with real keys on the embedded chain: a WalletContractV5R1 deployed from the chain's own
// wallet, which signs each transfer the app asks for as an external message and broadcasts it, as a wallet
// app would. What TonConnect's JS bridge relays to it is in bot/test/app/tonconnect-wallet.ts.
import { randomBytes } from 'node:crypto';
import type { SandboxChain } from '@cocoon/contracts/sandbox';
import {
  Address,
  beginCell,
  Cell,
  external,
  internal,
  loadStateInit,
  SendMode,
  storeMessage,
  storeStateInit,
  type Transaction,
} from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import { WalletContractV5R1 } from '@ton/ton';
import type {
  ConnectRequest,
  InjectedWallet,
  TonAddressItem,
  TransferRequest,
  WalletInfo,
} from '../../../bot/test/app/tonconnect-wallet.js';

/** A transfer the wallet signed and broadcast: what the app asked, the BOC it got back, what the chain did. */
export interface SentTransfer {
  request: TransferRequest;
  boc: string;
  transactions: Transaction[];
}

export class SandboxWallet {
  /** Every connect request the app made. */
  readonly connects: ConnectRequest[] = [];
  readonly sent: SentTransfer[] = [];
  /** Why the wallet declined a transfer (the user's check, or a malformed request), in order. */
  readonly declined: string[] = [];

  private constructor(
    private readonly chain: SandboxChain,
    readonly contract: WalletContractV5R1,
    private readonly secretKey: Buffer,
  ) {}

  /** A fresh key pair and its wallet contract, deployed with `funds` from the chain's own wallet. */
  static async deploy(chain: SandboxChain, funds: bigint): Promise<SandboxWallet> {
    const key = keyPairFromSeed(randomBytes(32));
    const contract = WalletContractV5R1.create({ workchain: 0, publicKey: key.publicKey });
    await chain.transfer({ to: contract.address, value: funds, init: contract.init, bounce: false });
    return new SandboxWallet(chain, contract, key.secretKey);
  }

  get address(): Address {
    return this.contract.address;
  }

  /** TonConnect's `ton_addr` item for this wallet. */
  account(): TonAddressItem {
    return {
      name: 'ton_addr',
      address: this.address.toRawString(),
      network: String(this.contract.walletId.networkGlobalId),
      publicKey: this.contract.publicKey.toString('hex'),
      walletStateInit: beginCell()
        .store(storeStateInit(this.contract.init))
        .endCell()
        .toBoc()
        .toString('base64'),
    };
  }

  /**
   * The wallet as TonConnect's JS bridge reaches it. `approve` is the user reading the transfer on the
   * wallet's confirmation screen: it throws to decline, and nothing is signed.
   */
  injected(
    bridge: { jsBridgeKey: string; walletInfo: WalletInfo },
    approve: (request: TransferRequest) => void,
  ): InjectedWallet {
    return {
      ...bridge,
      connect: async (request) => {
        this.connects.push(request);
        if (request.items.some((item) => item.name === 'ton_proof'))
          throw new Error('this wallet gives no ton_proof');
        return this.account();
      },
      sendTransaction: async (request) => {
        try {
          approve(request);
          return await this.send(request);
        } catch (error) {
          this.declined.push(error instanceof Error ? error.message : String(error));
          throw error;
        }
      },
    };
  }

  /** Signs the transfer as the wallet's next external message and broadcasts it; returns the message's BOC. */
  private async send(request: TransferRequest): Promise<string> {
    if (request.from !== undefined && !Address.parse(request.from).equals(this.address))
      throw new Error(`the transfer is from ${request.from}, not this wallet`);
    if (request.valid_until <= (await this.chain.now())) throw new Error('the transfer has expired');
    const seqno = await this.chain.open(this.contract).getSeqno();
    const body = this.contract.createTransfer({
      seqno,
      secretKey: this.secretKey,
      timeout: request.valid_until,
      sendMode: SendMode.PAY_GAS_SEPARATELY + SendMode.IGNORE_ERRORS,
      messages: request.messages.map((message) =>
        internal({
          to: Address.parse(message.address),
          value: BigInt(message.amount),
          bounce: Address.isFriendly(message.address)
            ? Address.parseFriendly(message.address).isBounceable
            : true,
          ...(message.payload === undefined ? {} : { body: Cell.fromBase64(message.payload) }),
          ...(message.stateInit === undefined
            ? {}
            : { init: loadStateInit(Cell.fromBase64(message.stateInit).beginParse()) }),
        }),
      ),
    });
    const signed = beginCell()
      .store(storeMessage(external({ to: this.address, body })))
      .endCell();
    const transactions = await this.chain.sendExternal(signed);
    const boc = signed.toBoc().toString('base64');
    this.sent.push({ request, boc, transactions });
    return boc;
  }
}
