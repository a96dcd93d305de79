// Node-only: the embedded chain, @ton/sandbox (the real TVM) with its whole state saved in a data folder.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Address,
  beginCell,
  Cell,
  type Contract,
  loadTransaction,
  type OpenedContract,
  type Sender,
  storeTransaction,
  type Transaction,
} from '@ton/core';
import {
  Blockchain,
  type SandboxContract,
  snapshotFromSerializable,
  snapshotToSerializable,
  type TreasuryContract,
} from '@ton/sandbox';
import { z } from 'zod';
import { mainnetFeeConfig } from '../fees.js';
import type { Chain, TransactionCursor, TransferRequest } from './types.js';

const STATE_FILE = 'chain.json';
const STATE_VERSION = 1;
/** Transactions kept per account for watchers; older ones are dropped. */
const TRANSACTIONS_KEPT = 1_000;

const persistedSchema = z.object({
  version: z.literal(STATE_VERSION),
  snapshot: z.record(z.string(), z.unknown()),
  /** address (raw) -> transaction BOCs (base64), oldest first */
  transactions: z.record(z.string(), z.array(z.string())),
});

export class ChainStateError extends Error {
  constructor(path: string, cause: unknown) {
    super(
      `cannot load the embedded chain from ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'ChainStateError';
  }
}

export interface SandboxChainOptions {
  /** Folder holding chain.json; omitted: in memory only. */
  dataDir?: string;
  /** Seed of the funded wallet this process pays from. */
  walletSeed?: string;
  /** Clock; the chain never goes back in time. Defaults to the system clock. */
  clock?: () => number;
}

/** A `Chain` on @ton/sandbox whose state survives restarts (saved after every message). */
export class SandboxChain implements Chain {
  readonly network = 'sandbox' as const;

  private constructor(
    readonly blockchain: Blockchain,
    private readonly treasury: SandboxContract<TreasuryContract>,
    private readonly path: string | undefined,
    private readonly clock: () => number,
    /** Transactions per destination account (raw address), oldest first: what watchers read. */
    private readonly log: Map<string, Transaction[]>,
  ) {}

  static async open(options: SandboxChainOptions = {}): Promise<SandboxChain> {
    const path = options.dataDir ? join(options.dataDir, STATE_FILE) : undefined;
    const log = new Map<string, Transaction[]>();
    let blockchain: Blockchain;
    if (path && existsSync(path)) {
      try {
        const persisted = persistedSchema.parse(JSON.parse(readFileSync(path, 'utf-8')));
        blockchain = await Blockchain.create();
        await blockchain.loadFrom(snapshotFromSerializable(persisted.snapshot as never));
        for (const [address, bocs] of Object.entries(persisted.transactions)) {
          log.set(
            address,
            bocs.map((boc) => loadTransaction(Cell.fromBase64(boc).beginParse())),
          );
        }
      } catch (error) {
        throw new ChainStateError(path, error);
      }
    } else {
      blockchain = await Blockchain.create({ config: mainnetFeeConfig() });
    }
    const treasury = await blockchain.treasury(options.walletSeed ?? 'cocoon-wallet');
    // a new treasury is stamped with the system time; the chain's clock must not be behind it
    const lastPaid =
      (await blockchain.getContract(treasury.address)).account.account?.storageStats.lastPaid ?? 0;
    blockchain.now = Math.max(blockchain.now ?? 0, lastPaid);
    const chain = new SandboxChain(
      blockchain,
      treasury,
      path,
      options.clock ?? (() => Math.floor(Date.now() / 1000)),
      log,
    );
    chain.tick();
    chain.save();
    return chain;
  }

  get wallet(): Address {
    return this.treasury.address;
  }

  /** Sends from the wallet and runs the chain until every message it caused has landed. */
  get sender(): Sender {
    return {
      address: this.treasury.address,
      send: async (args) => {
        this.tick();
        await this.settle(await this.treasury.send(args));
      },
    };
  }

  /** Wrapper `sendX` calls land at once when they pay through `sender`; the sandbox runs the rest. */
  open<T extends Contract>(contract: T): OpenedContract<T> {
    return this.blockchain.openContract(contract) as unknown as OpenedContract<T>;
  }

  async transfer(request: TransferRequest): Promise<void> {
    await this.sender.send({ ...request, bounce: request.bounce ?? true });
  }

  /** Every transaction kept for `address`, oldest first (what the local JSON-RPC serves). */
  history(address: Address): readonly Transaction[] {
    return this.log.get(address.toRawString()) ?? [];
  }

  /**
   * Takes a signed external message (a BOC, as a wallet broadcasts it) and runs the chain until every message
   * it caused has landed, recording the transactions for watchers as `sender` does.
   */
  async sendExternal(message: Cell): Promise<Transaction[]> {
    this.tick();
    const result = await this.blockchain.sendMessage(message);
    await this.settle(result);
    return result.transactions;
  }

  async getBalance(address: Address): Promise<bigint> {
    return (await this.blockchain.getContract(address)).balance;
  }

  async isDeployed(address: Address): Promise<boolean> {
    return (await this.blockchain.getContract(address)).accountState?.type === 'active';
  }

  async transactionsSince(
    address: Address,
    after: TransactionCursor | undefined,
    limit: number,
  ): Promise<Transaction[]> {
    const all = this.log.get(address.toRawString()) ?? [];
    const start = after
      ? all.findIndex((tx) => tx.lt === BigInt(after.lt) && tx.hash().toString('hex') === after.hash) + 1
      : 0;
    if (after && start === 0) {
      // the cursor's transaction was dropped from the log: continue from its logical time
      return all.filter((tx) => tx.lt > BigInt(after.lt)).slice(0, limit);
    }
    return all.slice(start, start + limit);
  }

  async now(): Promise<number> {
    return this.blockchain.now ?? this.clock();
  }

  /** Moves the chain's clock forward (never back), e.g. past a close delay in tests. */
  setTime(unixSeconds: number): void {
    this.blockchain.now = Math.max(this.blockchain.now ?? 0, unixSeconds);
  }

  async close(): Promise<void> {
    this.save();
  }

  private tick(): void {
    this.setTime(this.clock());
  }

  private async settle(result: { transactions: Transaction[] }): Promise<void> {
    for (const tx of result.transactions) {
      const dest = tx.inMessage?.info.dest;
      if (!Address.isAddress(dest)) continue;
      const key = dest.toRawString();
      const list = this.log.get(key) ?? [];
      list.push(tx);
      if (list.length > TRANSACTIONS_KEPT) list.splice(0, list.length - TRANSACTIONS_KEPT);
      this.log.set(key, list);
    }
    this.save();
  }

  private save(): void {
    if (!this.path) return;
    // the sandbox's own history (with VM logs) is not needed after a restart: the log above is
    const snapshot = { ...this.blockchain.snapshot(), transactions: [] };
    const transactions: Record<string, string[]> = {};
    for (const [address, txs] of this.log) {
      transactions[address] = txs.map((tx) =>
        beginCell().store(storeTransaction(tx)).endCell().toBoc().toString('base64'),
      );
    }
    const persisted = { version: STATE_VERSION, snapshot: snapshotToSerializable(snapshot), transactions };
    mkdirSync(join(this.path, '..'), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(persisted));
    renameSync(tmp, this.path);
  }
}
