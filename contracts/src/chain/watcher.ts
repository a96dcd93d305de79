// Watches a Client contract for incoming top-ups and charges and hands each one, once, to the app: top-ups
// to its ledger, charges to its job history (the transaction that settled a job), and a charge undone when
// the Proxy contract refused its payment (the jobs it settled are unsettled again).
import { readJsonFile, writeJsonFile } from '@cocoon/shared/json-file';
import type { Address, Transaction } from '@ton/core';
import { z } from 'zod';
import {
  parseBouncedPaymentBody,
  parseChargeBody,
  parseTopUpBody,
  type TopUpReference,
} from '../../wrappers/Client.js';
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

/** A Charge the contract accepted: the client's signed cumulative `total` is now charged. */
export interface ChargeEvent {
  /** The Charge transaction on the Client contract: what settled every job up to `total`. */
  lt: string;
  hash: string;
  /** Unix seconds. */
  at: number;
  client: Address;
  /** The cumulative total charged so far (nanotons), as the client signed it. */
  total: bigint;
  queryId: bigint;
}

/**
 * A Charge undone: the Proxy contract refused the payment it sent (e.g. the proxy had closed), the payment
 * bounced back and the Client contract gave the amount back and lowered its charged total.
 */
export interface ChargeUndoneEvent {
  /** The transaction that took the bounced payment back. */
  lt: string;
  hash: string;
  /** Unix seconds. */
  at: number;
  client: Address;
  /** The query id of the Charge undone (the client's voucher). */
  queryId: bigint;
  amount: bigint;
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

/**
 * The transaction's incoming internal message, if the transaction took effect (it did not abort or fail) and
 * the message is bounced or not as asked.
 */
function acceptedMessage(tx: Transaction, bounced = false) {
  const msg = tx.inMessage;
  const d = tx.description;
  if (msg?.info.type !== 'internal' || msg.info.bounced !== bounced) return undefined;
  if (d.type !== 'generic' || d.aborted || d.computePhase.type !== 'vm' || !d.computePhase.success)
    return undefined;
  return { info: msg.info, body: msg.body };
}

/** The top-up a transaction carries, if it is a successful, non-bounced incoming top-up. */
export function topUpOf(tx: Transaction, client: Address): TopUpEvent | undefined {
  const msg = acceptedMessage(tx);
  if (msg === undefined) return undefined;
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

/** The charge a transaction carries, if it is a Charge the contract accepted. */
export function chargeOf(tx: Transaction, client: Address): ChargeEvent | undefined {
  const msg = acceptedMessage(tx);
  const charge = msg === undefined ? undefined : parseChargeBody(msg.body);
  if (charge === undefined) return undefined;
  return { lt: tx.lt.toString(), hash: tx.hash().toString('hex'), at: tx.now, client, ...charge };
}

/** The Charge a transaction undoes, if it took back a bounced ClientPayment. */
export function chargeUndoneOf(tx: Transaction, client: Address): ChargeUndoneEvent | undefined {
  const msg = acceptedMessage(tx, true);
  const payment = msg === undefined ? undefined : parseBouncedPaymentBody(msg.body);
  if (payment === undefined) return undefined;
  return { lt: tx.lt.toString(), hash: tx.hash().toString('hex'), at: tx.now, client, ...payment };
}

export interface ClientContractWatcherOptions {
  chain: Chain;
  client: Address;
  cursor: CursorStore;
  /** Must be idempotent by (lt, hash): after a crash the last event may come again. */
  onTopUp: (event: TopUpEvent) => Promise<void>;
  /** Must be idempotent too; without it charges are passed over. */
  onCharge?: (event: ChargeEvent) => Promise<void>;
  /** Must be idempotent too; without it undone charges are passed over. */
  onChargeUndone?: (event: ChargeUndoneEvent) => Promise<void>;
  batch?: number;
}

/** One cursor over the Client contract's transactions, so top-ups and charges are each handled once, in order. */
export class ClientContractWatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly options: ClientContractWatcherOptions) {}

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
    const { chain, client, cursor, onTopUp, onCharge, onChargeUndone } = this.options;
    const batch = this.options.batch ?? 100;
    let handled = 0;
    let after = await cursor.load();
    for (;;) {
      const txs = await chain.transactionsSince(client, after, batch);
      for (const tx of txs) {
        const topUp = topUpOf(tx, client);
        if (topUp) {
          await onTopUp(topUp);
          handled++;
        }
        const charge = onCharge === undefined ? undefined : chargeOf(tx, client);
        if (charge) {
          await onCharge?.(charge);
          handled++;
        }
        const undone = onChargeUndone === undefined ? undefined : chargeUndoneOf(tx, client);
        if (undone) {
          await onChargeUndone?.(undone);
          handled++;
        }
        after = cursorOf(tx);
        await cursor.save(after);
      }
      if (txs.length < batch) return handled;
    }
  }
}
