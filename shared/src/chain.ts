/**
 * The TON edge. The embedded default is a local sandbox chain (real TVM) saved in the data folder;
 * testnet and mainnet go through a JSON-RPC endpoint with the operator's wallet. Adapters live in
 * @cocoon/contracts; this file holds @ton/core types only, so it is safe for browsers.
 */
import type { Address, Cell, Contract, OpenedContract, Sender, StateInit, Transaction } from '@ton/core';

export type TonNetwork = 'sandbox' | 'testnet' | 'mainnet';

/** Position in an account's transaction list; JSON-friendly (lt as decimal, hash as hex). */
export interface TransactionCursor {
  lt: string;
  hash: string;
}

export interface TransferRequest {
  to: Address;
  value: bigint;
  body?: Cell;
  init?: StateInit;
  /** Defaults to true; false for wallets and accounts that may not exist. */
  bounce?: boolean;
}

export interface Chain {
  readonly network: TonNetwork;
  /** The wallet this process pays from and signs with. */
  readonly wallet: Address;
  /** Sender for wrapper `sendX` methods: pays from `wallet`; resolves once the wallet accepted it. */
  readonly sender: Sender;
  /** A typed wrapper bound to this chain (`sendX` / `getX` methods of a @ton/core Contract). */
  open<T extends Contract>(contract: T): OpenedContract<T>;
  /** Plain transfer from `wallet`; resolves once the wallet accepted it. */
  transfer(request: TransferRequest): Promise<void>;
  getBalance(address: Address): Promise<bigint>;
  isDeployed(address: Address): Promise<boolean>;
  /** Transactions of `address` strictly after `after` (all when undefined), oldest first, at most `limit`. */
  transactionsSince(
    address: Address,
    after: TransactionCursor | undefined,
    limit: number,
  ): Promise<Transaction[]>;
  /** Unix time as the chain sees it. */
  now(): Promise<number>;
  /** Persists what needs persisting (the embedded chain) and releases resources. */
  close(): Promise<void>;
}

/** Where a watcher keeps its cursor between runs. */
export interface CursorStore {
  load(): Promise<TransactionCursor | undefined>;
  save(cursor: TransactionCursor): Promise<void>;
}

export function cursorOf(tx: Transaction): TransactionCursor {
  return { lt: tx.lt.toString(), hash: tx.hash().toString('hex') };
}
