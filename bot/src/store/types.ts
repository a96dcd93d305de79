import type { SignedReceipt } from '@cocoon/shared';
import type { Locale } from '../i18n.js';
import type { SummaryLanguage, SummaryLength } from '../summarize/types.js';

/** A channel the bot was added to, and how its admins want its posts summarized. */
export interface ChannelSettings {
  chatId: number;
  title: string;
  /** Whether long posts get the "✨ Summary" button. */
  enabled: boolean;
  /** Posts shorter than this (in characters) get no button. */
  minPostLength: number;
  language: SummaryLanguage;
  length: SummaryLength;
  /** Who pays for readers' summaries: each reader's own credit, or the channel's sponsor budget. */
  payer: 'reader' | 'sponsor';
  /** Post the summary as a comment in the linked discussion group. */
  postAsComment: boolean;
  /** The admin who added the bot: told about missing rights. */
  addedBy?: number;
  /** Whether the bot is an admin with the right to edit others' messages (needed for the button). */
  canEditMessages: boolean;
  /** Whether the bot is still an administrator of the channel. */
  active: boolean;
  /** When the admin was last told that the bot cannot edit posts (ms), so the warning is not repeated per post. */
  rightsWarnedAt?: number;
  /** Most the channel's readers may spend from its sponsor account per calendar month (UTC), in nanotons. */
  sponsorBudget?: bigint;
}

export const DEFAULT_CHANNEL_SETTINGS = {
  enabled: true,
  minPostLength: 500,
  language: 'auto',
  length: 'short',
  payer: 'reader',
  postAsComment: false,
} as const satisfies Partial<ChannelSettings>;

/** Where a summary came from; no source text is kept. */
export type SummarySource =
  | { kind: 'channel-post'; chatId: number; messageId: number; editDate?: number }
  | { kind: 'link'; url: string }
  | { kind: 'text' };

/**
 * A finished summary, kept only so deep links and repeated taps can show it: it is content, so it expires
 * (`expiresAt`) and is never logged.
 */
export interface StoredSummary {
  /** URL-safe id, used in deep links (`s_<id>`). */
  id: string;
  source: SummarySource;
  language: SummaryLanguage;
  length: SummaryLength;
  summary: string;
  /** Title and address of the article, for link summaries. */
  title?: string;
  url?: string;
  siteName?: string;
  receiptId?: string;
  workerId?: string;
  createdAt: number;
  /** After this (ms) the summary is gone: getSummary no longer returns it and purging deletes it. */
  expiresAt: number;
}

/** A user's own summary settings for private chats and inline mode. */
export interface UserSettings {
  userId: number;
  language: SummaryLanguage;
  length: SummaryLength;
}

/** The language the bot speaks to a user: their Telegram app's, last seen, or the one they chose in /settings. */
export interface UserLocale {
  userId: number;
  locale: Locale;
  /** Chosen in /settings: then it stays, whatever the app reports. */
  chosen: boolean;
}

/**
 * Why a ledger entry moved money: a Stars payment or a TON top-up (credits), a job's receipt amount
 * (a debit), a Stars refund (a debit reversing a payment).
 */
export type LedgerKind = 'stars' | 'ton' | 'job' | 'refund';

/**
 * One movement of credit, in nanotons (negative for debits). `account` is a Telegram user id, or a
 * channel's chat id (negative) for its sponsor budget. `key` makes every entry idempotent:
 * `stars:<telegram_payment_charge_id>`, `ton:<lt>:<hash>`, `job:<receipt id>:<account>`, `refund:<charge id>`.
 */
export interface LedgerEntry {
  key: string;
  account: number;
  amount: bigint;
  kind: LedgerKind;
  /** Stars paid (for `stars` and `refund` entries), to refund or show them. */
  stars?: number;
  at: number;
}

/** Who paid for a job. */
export type JobPayer = 'free' | 'credit' | 'sponsor';

/**
 * What lets a user check a network job in the Mini App without trusting the bot: the worker's signed
 * receipt and attestation bundle (no content), and the on-chain settlement of its charge once there is one.
 */
export interface JobProof {
  /** The receipt's job id (32 hex digits). */
  jobId: string;
  receipt: SignedReceipt;
  /** The worker's attestation bundle, as the client SDK verified it. */
  attestation: unknown;
  /**
   * The app account's cumulative voucher total signed right after this job's receipt (nanotons): a Charge
   * of at least this total settles the job.
   */
  voucherTotal?: bigint;
  settlement?: { lt: string; hash: string };
}

/** A Charge transaction on the app's Client contract; `queryId` names the voucher it charged. */
export interface ChargeSettlement {
  lt: string;
  hash: string;
  queryId: bigint;
}

/** A summary job the bot ran for a user: what /history and /privacy show. Holds no content. */
export interface JobRecord {
  /** The summary's id (a job is recorded once per summary made). */
  summaryId: string;
  userId: number;
  sourceKind: SummarySource['kind'];
  promptTokens: number;
  completionTokens: number;
  /** The receipt's amount in nanotons (what was debited, unless the job was free). */
  cost: bigint;
  paidBy: JobPayer;
  /** The account debited: the user, or the channel whose sponsor budget paid. */
  account: number;
  receiptId?: string;
  workerId?: string;
  /** How the worker's enclave was attested ('tdx', or 'dev' on a test network). */
  attestationKind?: string;
  /** What was summarized: a link's address or a post's ids, never its text. */
  source?: SummarySource;
  proof?: JobProof;
  at: number;
}

/** A TonConnect top-up the Mini App asked for; `creditKey` names its `ton:` ledger entry once the chain saw it. */
export interface TopUpIntentRecord {
  userId: number;
  /** The TopUp message's query id (below 2^63). */
  queryId: bigint;
  amount: bigint;
  /** Unix seconds. */
  createdAt: number;
  validUntil: number;
  creditKey?: string;
}

/** Persistence of the bot: InMemoryBotStore for tests and one process, SqlBotStore over shared's Store. */
export interface BotStore {
  getChannel(chatId: number): Promise<ChannelSettings | undefined>;
  saveChannel(settings: ChannelSettings): Promise<void>;

  getUserSettings(userId: number): Promise<UserSettings | undefined>;
  saveUserSettings(settings: UserSettings): Promise<void>;

  getUserLocale(userId: number): Promise<UserLocale | undefined>;
  saveUserLocale(locale: UserLocale): Promise<void>;

  /** The summary, unless it expired by `now` (ms). */
  getSummary(id: string, now: number): Promise<StoredSummary | undefined>;
  /** Saves a summary under its id, replacing an older one with the same id. */
  saveSummary(summary: StoredSummary): Promise<void>;
  /** Deletes the summaries expired by `now`; returns how many. */
  deleteExpiredSummaries(now: number): Promise<number>;

  /** Adds the entry unless one with its key exists; returns whether it was added. */
  addLedgerEntry(entry: LedgerEntry): Promise<boolean>;
  ledgerEntry(key: string): Promise<LedgerEntry | undefined>;
  /** The sum of an account's entries. */
  balance(account: number): Promise<bigint>;

  /** Uses one of the user's free summaries of `day` (YYYY-MM-DD) if fewer than `limit` were used. */
  takeFreeSummary(userId: number, day: string, limit: number): Promise<boolean>;
  /** Gives back a free summary taken for a job that failed. */
  returnFreeSummary(userId: number, day: string): Promise<void>;
  freeSummariesUsed(userId: number, day: string): Promise<number>;

  /** The sums of an account's entries by kind, of those at or after `since` (ms) when given. */
  ledgerTotals(account: number, since?: number): Promise<Record<LedgerKind, bigint>>;

  recordJob(job: JobRecord): Promise<void>;
  /**
   * The user's most recent jobs, newest first: only those before `before` (ms) when given, only those with
   * a proof when `proven`.
   */
  recentJobs(
    userId: number,
    limit: number,
    filter?: { before?: number; proven?: boolean },
  ): Promise<JobRecord[]>;
  /** Marks the proven jobs with these job ids as settled by this transaction. */
  settleJobs(jobIds: readonly string[], settlement: { lt: string; hash: string }): Promise<void>;
  /**
   * Marks every unsettled job whose voucher total is at most `total` as settled by this Charge transaction;
   * returns how many (none when the same Charge comes again).
   */
  settleJobsUpTo(total: bigint, charge: ChargeSettlement): Promise<number>;
  /**
   * Marks the jobs the Charge of voucher `queryId` settled as unsettled again: the Proxy contract refused its
   * payment and the Client contract undid it, so a later Charge settles them. Returns how many (none when the
   * same report comes again).
   */
  unsettleCharge(queryId: bigint): Promise<number>;

  /** Channels where the bot is still an administrator. */
  activeChannels(): Promise<ChannelSettings[]>;

  saveTopUpIntent(intent: TopUpIntentRecord): Promise<void>;
  topUpIntent(userId: number, queryId: bigint): Promise<TopUpIntentRecord | undefined>;
  /** Names the ledger entry that credited the user's top-up, unless one is named already (idempotent). */
  linkTopUpCredit(userId: number, queryId: bigint, creditKey: string): Promise<void>;
}
