import type { Address, Cell, ContractProvider, Sender, StateInit } from '@ton/core';

/**
 * The TON edge. The embedded default is a local sandbox chain (real TVM) saved in the data folder;
 * testnet and mainnet go through a JSON-RPC endpoint with the operator's wallet. Contract wrappers
 * take a provider and a sender from it, as blueprint's NetworkProvider gives them, so the same code
 * runs on all three.
 */
export interface Chain {
  readonly network: 'sandbox' | 'testnet' | 'mainnet';
  /** The operator wallet that deploys contracts and sends settlement messages. */
  readonly operator: Address;
  sender(): Sender;
  provider(address: Address, init?: StateInit): ContractProvider;
  balance(address: Address): Promise<bigint>;
  /** Transactions of an account newer than the cursor, oldest first, at most `limit`. */
  transactionsSince(
    address: Address,
    cursor: ChainCursor | undefined,
    limit: number,
  ): Promise<ChainTransaction[]>;
  /** Persists local chain state (sandbox) ; a no-op on a real network. */
  save(): Promise<void>;
  close(): Promise<void>;
}

/** Position in an account's history: logical time and hash of the last transaction handled. */
export interface ChainCursor {
  lt: bigint;
  hash: string;
}

export interface ChainTransaction extends ChainCursor {
  now: number;
  /** The incoming internal message, when the transaction has one. */
  inbound?: { source: Address | null; value: bigint; body: Cell; bounced: boolean };
  /** Whether compute and action phases succeeded. */
  success: boolean;
}
