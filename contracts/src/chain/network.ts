// A `Chain` on a real TON network through a toncenter-compatible HTTP API (@ton/ton), paying from
// a wallet v5r1 derived from a mnemonic.
import type { Address, Contract, OpenedContract, Sender, Transaction } from '@ton/core';
import { internal, SendMode } from '@ton/core';
import { type KeyPair, mnemonicToPrivateKey } from '@ton/crypto';
import { TonClient, WalletContractV5R1 } from '@ton/ton';
import { z } from 'zod';
import { retryingAdapter } from './retry.js';
import type { Chain, TonNetwork, TransactionCursor, TransferRequest } from './types.js';

/**
 * The global id (config param 19) a wallet v5r1 binds into its wallet id. The local chain is @ton/sandbox with
 * its default config, which carries mainnet's id; the local wallet's mnemonic is its own, made in the data folder.
 */
const NETWORK_GLOBAL_ID: Record<TonNetwork, number> = { mainnet: -239, testnet: -3, sandbox: -239 };

/** The wallet v5r1 of `publicKey` on `network`, as NetworkChain pays from it. */
function walletV5R1(publicKey: Buffer, network: TonNetwork): WalletContractV5R1 {
  return WalletContractV5R1.create({
    publicKey,
    walletId: {
      networkGlobalId: NETWORK_GLOBAL_ID[network],
      context: { walletVersion: 'v5r1', workchain: 0, subwalletNumber: 0 },
    },
  });
}

/** The address NetworkChain pays from with `mnemonic` on `network` (e.g. to fund it before it is used). */
export async function walletAddress(mnemonic: string[], network: TonNetwork): Promise<Address> {
  return walletV5R1((await mnemonicToPrivateKey(mnemonic)).publicKey, network).address;
}

export const networkChainOptionsSchema = z.object({
  /** sandbox: the local chain `npm start` serves over its loopback JSON-RPC (local-rpc.ts). */
  network: z.enum(['testnet', 'mainnet', 'sandbox']),
  /** e.g. https://toncenter.com/api/v2/jsonRPC */
  endpoint: z.url(),
  apiKey: z.string().min(1).optional(),
  /** 24 words. */
  mnemonic: z.array(z.string().min(1)).length(24),
  /** How long a send waits for the wallet's seqno to advance. */
  confirmTimeoutMs: z.number().int().positive().default(90_000),
  pollIntervalMs: z.number().int().positive().default(2_000),
  /** How long one HTTP request may take before it counts as failed (and is retried). */
  requestTimeoutMs: z.number().int().positive().default(30_000),
  /**
   * Tries in all for a request that fails transiently (connection errors, timeouts, 429, 5xx); toncenter
   * without an API key answers 429 past 1 request/s.
   */
  retryAttempts: z.number().int().min(1).max(20).default(5),
  /** The wait before the first retry: it doubles with each, times a random 1-2. */
  retryBaseDelayMs: z.number().int().nonnegative().default(500),
  /** The longest wait between tries, and the longest Retry-After honoured (past it the request fails at once). */
  retryMaxDelayMs: z.number().int().nonnegative().default(10_000),
});
export type NetworkChainOptions = z.input<typeof networkChainOptionsSchema>;

export class SendTimeoutError extends Error {
  constructor(seqno: number, timeoutMs: number) {
    super(`wallet seqno stayed at ${seqno} for ${timeoutMs} ms: the message was not accepted`);
    this.name = 'SendTimeoutError';
  }
}

/** The part of TonClient the chain uses (a fake can stand in for it in tests). */
export type TonClientLike = Pick<TonClient, 'open' | 'getBalance' | 'isContractDeployed' | 'getTransactions'>;

const PAGE = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class NetworkChain implements Chain {
  private readonly walletContract: OpenedContract<WalletContractV5R1>;
  /** Sends are serialised: a wallet takes one seqno at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly network: TonNetwork,
    private readonly client: TonClientLike,
    private readonly keys: KeyPair,
    private readonly timing: { confirmTimeoutMs: number; pollIntervalMs: number },
  ) {
    this.walletContract = client.open(walletV5R1(keys.publicKey, network));
  }

  static async connect(options: NetworkChainOptions): Promise<NetworkChain> {
    const o = networkChainOptionsSchema.parse(options);
    const client = new TonClient({
      endpoint: o.endpoint,
      apiKey: o.apiKey,
      timeout: o.requestTimeoutMs,
      httpAdapter: retryingAdapter({
        attempts: o.retryAttempts,
        baseDelayMs: o.retryBaseDelayMs,
        maxDelayMs: o.retryMaxDelayMs,
      }),
    });
    const keys = await mnemonicToPrivateKey(o.mnemonic);
    return new NetworkChain(o.network, client, keys, o);
  }

  get wallet(): Address {
    return this.walletContract.address;
  }

  get sender(): Sender {
    const inner = this.walletContract.sender(this.keys.secretKey);
    return { address: inner.address, send: (args) => this.confirmed(() => inner.send(args)) };
  }

  open<T extends Contract>(contract: T): OpenedContract<T> {
    return this.client.open(contract);
  }

  async transfer(request: TransferRequest): Promise<void> {
    await this.confirmed(async () => {
      const seqno = await this.walletContract.getSeqno();
      await this.walletContract.sendTransfer({
        seqno,
        secretKey: this.keys.secretKey,
        sendMode: SendMode.PAY_GAS_SEPARATELY | SendMode.IGNORE_ERRORS,
        messages: [
          internal({
            to: request.to,
            value: request.value,
            body: request.body,
            init: request.init,
            bounce: request.bounce ?? true,
          }),
        ],
      });
    });
  }

  getBalance(address: Address): Promise<bigint> {
    return this.client.getBalance(address);
  }

  isDeployed(address: Address): Promise<boolean> {
    return this.client.isContractDeployed(address);
  }

  /** Pages back from the newest transaction to the cursor, then returns the oldest `limit` after it. */
  async transactionsSince(
    address: Address,
    after: TransactionCursor | undefined,
    limit: number,
  ): Promise<Transaction[]> {
    const newer: Transaction[] = [];
    let page = await this.client.getTransactions(address, { limit: PAGE, archival: true });
    for (;;) {
      let reached = false;
      for (const tx of page) {
        if (
          after &&
          (tx.lt < BigInt(after.lt) ||
            (tx.lt === BigInt(after.lt) && tx.hash().toString('hex') === after.hash))
        ) {
          reached = true;
          break;
        }
        newer.push(tx);
      }
      const last = page.at(-1);
      if (reached || page.length < PAGE || !last) break;
      page = await this.client.getTransactions(address, {
        limit: PAGE,
        lt: last.lt.toString(),
        hash: last.hash().toString('base64'),
        inclusive: false,
        archival: true,
      });
    }
    return newer.reverse().slice(0, limit);
  }

  async now(): Promise<number> {
    return Math.floor(Date.now() / 1000);
  }

  async close(): Promise<void> {}

  /** Runs one wallet send at a time and resolves once the wallet's seqno moved past it. */
  private confirmed(send: () => Promise<void>): Promise<void> {
    const run = async () => {
      const deployed = await this.client.isContractDeployed(this.wallet);
      const before = deployed ? await this.walletContract.getSeqno() : 0;
      try {
        await send();
      } catch (error) {
        // a send retried after its answer was lost is refused as a replay once the first copy landed:
        // the seqno moved, so the message went through
        if (await this.seqnoPast(before).catch(() => false)) return;
        throw error;
      }
      const deadline = Date.now() + this.timing.confirmTimeoutMs;
      while (Date.now() < deadline) {
        await sleep(this.timing.pollIntervalMs);
        if (await this.seqnoPast(before)) return;
      }
      throw new SendTimeoutError(before, this.timing.confirmTimeoutMs);
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async seqnoPast(before: number): Promise<boolean> {
    return (
      (await this.client.isContractDeployed(this.wallet)) && (await this.walletContract.getSeqno()) > before
    );
  }
}
