import type { ChannelSettingsInput, FreeQuota, HistoryJob } from '@cocoon/shared/protocol/app-api';

/** Credit of one Telegram user: the bot's ledger balance, split by where it came from. */
export interface AppAccount {
  /** Nanotons of credit not bought with Stars (TON top-ups of the app's client contract). */
  tonCredit: bigint;
  /** Stars paid through invoices whose credit is not spent yet. */
  starsCredit: number;
  freeQuota: FreeQuota;
}

/** A TonConnect top-up the app asked for: pending until the chain watcher credits a TopUp with its query id. */
export interface StoredTopUp {
  queryId: bigint;
  userId: number;
  amount: bigint;
  createdAt: number;
  validUntil: number;
}

/**
 * What the chain watcher reports for each incoming TopUp transaction of the client contract: the only thing
 * that confirms a top-up and raises a balance (never the wallet's word). Credited once per (lt, hash).
 */
export interface ChainCredit {
  lt: string;
  hash: string;
  /** The TopUp body's numeric reference: the Telegram user id. */
  userId: number;
  queryId: bigint;
  /** Nanotons credited (the transfer less the contract's gas). */
  amount: bigint;
}

/** The credit that confirmed a top-up. */
export interface TopUpCredit {
  lt: string;
  hash: string;
  amount: bigint;
  /** Unix seconds it was credited. */
  at: number;
}

/** A channel the bot is in, with its summary settings and sponsor budget. */
export interface AppChannelRecord {
  chatId: number;
  title: string;
  /** Whether the bot is still an administrator there. */
  active: boolean;
  botCanEdit: boolean;
  settings: ChannelSettingsInput;
  /** Spent from the channel's sponsor account this calendar month (UTC). */
  sponsorSpent: bigint;
}

/** Persistence of the Mini App's API (LedgerAppStore: over the bot's store and its ledger). */
export interface AppStore {
  account(userId: number): Promise<AppAccount>;
  /** The user's jobs, newest first, created strictly before `before` (unix seconds) when given. */
  jobs(userId: number, page: { limit: number; before?: number }): Promise<HistoryJob[]>;
  saveTopUp(topUp: StoredTopUp): Promise<void>;
  topUp(userId: number, queryId: bigint): Promise<StoredTopUp | undefined>;
  /** The chain's credit for this user's top-up, once the chain watcher reported it. */
  credit(userId: number, queryId: bigint): Promise<TopUpCredit | undefined>;
  /** Channels the bot is an administrator of. */
  channels(): Promise<AppChannelRecord[]>;
  channel(chatId: number): Promise<AppChannelRecord | undefined>;
  saveChannelSettings(chatId: number, settings: ChannelSettingsInput): Promise<AppChannelRecord>;
}
