// Watches a Client contract for incoming top-ups and hands each one, once, to the app's ledger.
import { readJsonFile, writeJsonFile } from '@cocoon/shared/json-file';
import type { Address, Transaction } from '@ton/core';
import { z } from 'zod';
import { parseTopUpBody, type TopUpReference } from '../../wrappers/Client.js';
import { Op } from '../../wrappers/constants.js';
import { type Chain, type CursorStore, cursorOf, type TransactionCursor } from './types.js';

export interface TopUpEvent {
  /** The transaction's identity: the ledger credits each (lt, hash) once. */
  lt: string;
  hash: string;
  /** Unix seconds. */
  at: number;
  client: Address;
  from: Address;
  /** Gross value; the contract keeps its top-up gas bound (and the storage reserve on a first deposit). */
  value: bigint;
  queryId: bigint;
  reference?: TopUpReference;
  /** Text of a plain wallet transfer with a comment. */
  comment?: string;
}

const cursorSchema = z.object({ lt: z.string().regex(/^\d+$/), hash: z.string().regex(/^[0-9a-f]{64}$/) });

/** A cursor in a JSON file, replaced atomically. */
export class FileCursorStore implements CursorStore {
  constructor(private readonly path: string) {}

  load(): Promise<TransactionCursor | undefined> {
    return readJsonFile(this.path, cursorSchema);
  }

  save(cursor: TransactionCursor): Promise<void> {
    return writeJsonFile(this.path, cursorSchema, cursor);
  }
}

/** The top-up a transaction carries, if it is a successful, non-bounced incoming top-up. */
export function topUpOf(tx: Transaction, client: Address): TopUpEvent | undefined {
  const msg = tx.inMessage;
  const d = tx.description;
  if (msg?.info.type !== 'internal' || msg.info.bounced) return undefined;
  if (d.type !== 'generic' || d.aborted || d.computePhase.type !== 'vm' || !d.computePhase.success)
    return undefined;
  const base = {
    lt: tx.lt.toString(),
    hash: tx.hash().toString('hex'),
    at: tx.now,
    client,
    from: msg.info.src,
    value: msg.info.value.coins,
  };
  const body = msg.body.beginParse();
  if (body.remainingBits === 0 && body.remainingRefs === 0) return { ...base, queryId: 0n };
  if (body.remainingBits >= 32 && body.preloadUint(32) === Op.textComment) {
    body.skip(32);
    return { ...base, queryId: 0n, comment: body.loadStringTail() };
  }
  const topUp = parseTopUpBody(msg.body);
  return topUp ? { ...base, ...topUp } : undefined;
}

export interface TopUpWatcherOptions {
  chain: Chain;
  client: Address;
  cursor: CursorStore;
  /** Must be idempotent by (lt, hash): after a crash the last event may come again. */
  onTopUp: (event: TopUpEvent) => Promise<void>;
  batch?: number;
}

export class TopUpWatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly options: TopUpWatcherOptions) {}

  /** Handles every transaction after the cursor; the cursor moves only past handled ones. */
  poll(): Promise<number> {
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.stop();
    this.timer = setInterval(() => this.poll().catch(onError), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async drain(): Promise<number> {
    const { chain, client, cursor, onTopUp } = this.options;
    const batch = this.options.batch ?? 100;
    let handled = 0;
    let after = await cursor.load();
    for (;;) {
      const txs = await chain.transactionsSince(client, after, batch);
      for (const tx of txs) {
        const event = topUpOf(tx, client);
        if (event) {
          await onTopUp(event);
          handled++;
        }
        after = cursorOf(tx);
        await cursor.save(after);
      }
      if (txs.length < batch) return handled;
    }
  }
}
