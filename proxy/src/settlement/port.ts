/** A client's deposit as its Client contract holds it. */
export interface ClientAccount {
  balance: bigint;
  stake: bigint;
  /** The cumulative total charged so far (the last Charge that went through). */
  chargedTotal: bigint;
  /** The owner asked for a refund: the deposit leaves after the close delay. */
  closing: boolean;
}

/** A cumulative total and the signature that lets it move money. */
export interface SignedTotal {
  total: bigint;
  queryId: bigint;
  signature: Uint8Array;
}

/** The proxy's latest settlement state hash as its Proxy contract recorded it. */
export interface ChainStateRecord {
  /** 0 before the first record. */
  seqno: bigint;
  /** SHA-256, lowercase hex (all zero before the first record). */
  stateHash: string;
  /** Unix seconds the chain recorded it. */
  at: number;
}

/**
 * What settlement needs of the chain (`contractSettlement` implements it over the real contracts).
 * Addresses are text in any form @ton/core parses; the methods return raw form (`0:…`).
 */
export interface SettlementChain {
  /** The Client contract of (owner wallet, client key) for this proxy, from its init data. */
  clientContractAddress(owner: string, clientKey: string): string;
  /** The Worker contract paying `payoutAddress` for this proxy, from its init data. */
  workerContractAddress(payoutAddress: string): string;
  /** Undefined while the contract is not deployed (no deposit yet). */
  clientAccount(contract: string): Promise<ClientAccount | undefined>;
  /** The cumulative total the worker's contract has paid out (0 before its first payout). */
  workerPaidTotal(payoutAddress: string): Promise<bigint>;
  /**
   * The Proxy contract's balance (charges in, payouts and commission out). Payouts wait until it covers
   * them: the contract would take the rest from the stake, which is the workers' guarantee, not cash flow.
   */
  proxyBalance(): Promise<bigint>;
  /** The Root's price and worker fee per token: the proxy keeps the difference as commission. */
  rates(): Promise<{ pricePerToken: bigint; workerFeePerToken: bigint }>;
  /** Sends the client-signed Charge to its Client contract; resolves once the wallet accepted it. */
  sendCharge(contract: string, signed: SignedTotal): Promise<void>;
  /** Sends the proxy-signed Payout to the worker's contract (deploying it on the first one). */
  sendPayout(payoutAddress: string, signed: SignedTotal): Promise<void>;
  /** The Proxy contract's state record (seqno 0 while it is not deployed). */
  stateRecord(): Promise<ChainStateRecord>;
  /** Records a state hash on the Proxy contract (its owner, the proxy's wallet, sends it); resolves once sent. */
  sendStateRecord(seqno: bigint, stateHash: string): Promise<void>;
}
