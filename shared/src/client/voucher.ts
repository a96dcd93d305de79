import { Address } from '@ton/core';
import { z } from 'zod';
import { fromHex, toHex } from '../bytes.js';
import { hexBytes, Nanotons } from '../protocol/primitives.js';
import { SignedOp, signAmount, verifyAmountSignature } from '../settlement.js';
import { signingPublicKey } from '../signing.js';

/**
 * Vouchers: the client's signature on the cumulative total its Client contract may be charged, signed
 * only after it verified the receipts that add up to it (payment-channel style). The proxy sends the
 * latest one on-chain as a Charge; totals only grow, so an old voucher charges nothing.
 */

/** A TON address in raw form (`0:` and 64 hex digits), so equal addresses compare equal as text. */
export const RawAddress = z.string().regex(/^-?[0-9]+:[0-9a-f]{64}$/, 'expected a raw TON address (0:…)');

/** The raw form of an address given in any form @ton/core parses. */
export const rawAddress = (text: string): string => Address.parse(text).toRawString();

/** A message query id: uint64, a decimal string on the wire. */
export const QueryId = z.codec(
  z.string().regex(/^(0|[1-9][0-9]{0,19})$/, 'expected a query id as a decimal integer string'),
  z
    .bigint()
    .nonnegative()
    .max(2n ** 64n - 1n),
  { decode: (text) => BigInt(text), encode: (value) => value.toString() },
);

/** `POST /v1/vouchers`: the signed request's client key is the signer. */
export const VoucherMessage = z.object({
  /** The Client contract of (owner, client key) for this proxy: the signed target. */
  contract: RawAddress,
  /** The wallet that owns the Client contract: with the client key it fixes the contract's address. */
  owner: RawAddress,
  total: Nanotons,
  queryId: QueryId,
  signature: hexBytes(64),
});
export type VoucherMessage = z.output<typeof VoucherMessage>;

/** The proxy's answer: the latest total it holds and what it metered for the client. */
export const VoucherReply = z.object({ total: Nanotons, metered: Nanotons });
export type VoucherReply = z.output<typeof VoucherReply>;

/** `GET /v1/vouchers`: the latest voucher the proxy holds for the client, if any. */
export const VoucherHeld = z.object({ voucher: VoucherMessage.nullable() });
export type VoucherHeld = z.output<typeof VoucherHeld>;

/** What the client remembers between runs, so it never signs a lower total than before. */
export interface VoucherState {
  /** The Client contract the totals are for (raw address). */
  contract: string;
  total: bigint;
  queryId: bigint;
  signature: string;
}

/** Where the client keeps its latest voucher (a file in the cli's data folder; memory by default). */
export interface VoucherStore {
  load(): Promise<VoucherState | undefined>;
  save(state: VoucherState): Promise<void>;
}

export class MemoryVoucherStore implements VoucherStore {
  #state: VoucherState | undefined;
  async load(): Promise<VoucherState | undefined> {
    return this.#state;
  }
  async save(state: VoucherState): Promise<void> {
    this.#state = { ...state };
  }
}

export function chargeTarget(voucher: Pick<VoucherMessage, 'contract' | 'total' | 'queryId'>) {
  return {
    op: SignedOp.charge,
    queryId: voucher.queryId,
    total: voucher.total,
    target: Address.parse(voucher.contract),
  };
}

/** True when `signature` is `clientKey`'s signature of a Charge of `total` for `contract`. */
export function verifyVoucher(voucher: VoucherMessage, clientKey: string): boolean {
  return verifyAmountSignature(chargeTarget(voucher), fromHex(voucher.signature), fromHex(clientKey));
}

export class VoucherError extends Error {
  override readonly name = 'VoucherError';
}

/**
 * Signs the client's running total: each verified receipt adds its amount, never more. Totals are
 * persisted before they are handed out, so a restart continues from the last signed total, and calls
 * are serialized so concurrent jobs add up.
 */
export class VoucherSigner {
  readonly contract: string;
  readonly owner: string;
  /** The client key (hex) the signatures verify under. */
  readonly #account: string;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly secretKey: Uint8Array,
    owner: string,
    contract: string,
    private readonly store: VoucherStore,
  ) {
    this.contract = rawAddress(contract);
    this.owner = rawAddress(owner);
    this.#account = toHex(signingPublicKey(secretKey.length === 64 ? secretKey.subarray(0, 32) : secretKey));
  }

  /** The latest voucher (a zero total, signed, before the first receipt): it opens the account at a proxy. */
  latest(): Promise<VoucherMessage> {
    return this.#serial(async () => this.#message(await this.#load()));
  }

  /** Adds a verified receipt's amount to the total and signs the new total. */
  add(amount: bigint): Promise<VoucherMessage> {
    if (amount < 0n) throw new RangeError('a receipt amount is never negative');
    return this.#serial(async () => {
      const previous = await this.#load();
      if (amount === 0n) return this.#message(previous);
      const next = this.#sign(previous.total + amount, previous.queryId + 1n);
      await this.store.save(next);
      return this.#message(next);
    });
  }

  /**
   * Takes over a higher total this key signed earlier (the proxy's copy, after the local store was lost):
   * the signature proves the client verified those receipts then. Anything else is ignored.
   */
  adopt(voucher: VoucherMessage): Promise<boolean> {
    return this.#serial(async () => {
      const current = await this.#load();
      const ours = voucher.contract === this.contract && verifyVoucher(voucher, this.#account);
      if (!ours || voucher.total <= current.total) return false;
      await this.store.save({
        contract: this.contract,
        total: voucher.total,
        queryId: voucher.queryId,
        signature: voucher.signature,
      });
      return true;
    });
  }

  async #load(): Promise<VoucherState> {
    const stored = await this.store.load();
    if (stored === undefined) return this.#sign(0n, 0n);
    if (stored.contract !== this.contract) {
      throw new VoucherError(
        `the voucher store holds totals for contract ${stored.contract}, not ${this.contract}`,
      );
    }
    return stored;
  }

  #sign(total: bigint, queryId: bigint): VoucherState {
    const signature = signAmount(chargeTarget({ contract: this.contract, total, queryId }), this.secretKey);
    return { contract: this.contract, total, queryId, signature: toHex(signature) };
  }

  #message(state: VoucherState): VoucherMessage {
    return {
      contract: state.contract,
      owner: this.owner,
      total: state.total,
      queryId: state.queryId,
      signature: state.signature,
    };
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
