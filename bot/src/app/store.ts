import type { ChannelSettingsInput, FreeQuota, HistoryJob } from '@cocoon/shared/protocol/app-api';

/** Credit of one Telegram user. */
export interface AppAccount {
  /** Nanotons in the app's client contract credited to this user. */
  tonCredit: bigint;
  /** Stars paid through invoices and not yet spent. */
  starsCredit: number;
  freeQuota: FreeQuota;
}

/** A TonConnect top-up the app asked for: pending until a `ChainCredit` with its query id exists. */
export interface StoredTopUp {
  queryId: bigint;
  userId: number;
  amount: bigint;
  createdAt: number;
  validUntil: number;
}

/**
 * What the server's chain watcher records for each incoming TopUp transaction of the client contract, once
 * per (lt, hash): the only thing that confirms a top-up and raises a balance (never the wallet's word).
 */
export interface ChainCredit {
  lt: string;
  hash: string;
  /** The TopUp body's numeric reference: the Telegram user id. */
  userId: number;
  queryId: bigint;
  /** Nanotons credited (the transfer less the contract's gas). */
  amount: bigint;
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
  sponsorSpent: bigint;
}

/** Persistence of the Mini App's API; in memory now, a SQL one over shared's Store later. */
export interface AppStore {
  account(userId: number): Promise<AppAccount>;
  /** The user's jobs, newest first, created strictly before `before` (unix seconds) when given. */
  jobs(userId: number, page: { limit: number; before?: number }): Promise<HistoryJob[]>;
  saveTopUp(topUp: StoredTopUp): Promise<void>;
  topUp(userId: number, queryId: bigint): Promise<StoredTopUp | undefined>;
  /** The chain watcher's credit for this user's top-up, if the chain has seen it. */
  credit(userId: number, queryId: bigint): Promise<ChainCredit | undefined>;
  /** Channels the bot is an administrator of. */
  channels(): Promise<AppChannelRecord[]>;
  channel(chatId: number): Promise<AppChannelRecord | undefined>;
  saveChannelSettings(chatId: number, settings: ChannelSettingsInput): Promise<AppChannelRecord>;
}

export interface InMemoryAppStoreOptions {
  /** Free summaries per period. */
  freeLimit?: number;
  freePeriodSeconds?: number;
  /** Unix seconds now, for the free quota's period. */
  now?: () => number;
}

interface MemoryAccount {
  tonCredit: bigint;
  starsCredit: number;
  freeUsed: number;
  periodStart: number;
}

/** The in-memory AppStore, with the writers the chain watcher, the bot and the summarizer call. */
export class InMemoryAppStore implements AppStore {
  private readonly accounts = new Map<number, MemoryAccount>();
  private readonly jobsByUser = new Map<number, HistoryJob[]>();
  private readonly topUps = new Map<string, StoredTopUp>();
  private readonly credits = new Map<string, ChainCredit>();
  private readonly channelsById = new Map<number, AppChannelRecord>();
  private readonly freeLimit: number;
  private readonly freePeriodSeconds: number;
  private readonly now: () => number;

  constructor(options: InMemoryAppStoreOptions = {}) {
    this.freeLimit = options.freeLimit ?? 5;
    this.freePeriodSeconds = options.freePeriodSeconds ?? 86_400;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  async account(userId: number): Promise<AppAccount> {
    const account = this.memoryAccount(userId);
    return {
      tonCredit: account.tonCredit,
      starsCredit: account.starsCredit,
      freeQuota: {
        left: Math.max(0, this.freeLimit - account.freeUsed),
        limit: this.freeLimit,
        resetsAt: account.periodStart + this.freePeriodSeconds,
      },
    };
  }

  async jobs(userId: number, page: { limit: number; before?: number }): Promise<HistoryJob[]> {
    const before = page.before;
    return (this.jobsByUser.get(userId) ?? [])
      .filter((job) => before === undefined || job.createdAt < before)
      .slice(0, page.limit);
  }

  async saveTopUp(topUp: StoredTopUp): Promise<void> {
    this.topUps.set(topUpKey(topUp.userId, topUp.queryId), topUp);
  }

  async topUp(userId: number, queryId: bigint): Promise<StoredTopUp | undefined> {
    return this.topUps.get(topUpKey(userId, queryId));
  }

  async credit(userId: number, queryId: bigint): Promise<ChainCredit | undefined> {
    for (const credit of this.credits.values()) {
      if (credit.userId === userId && credit.queryId === queryId) return credit;
    }
    return undefined;
  }

  async channels(): Promise<AppChannelRecord[]> {
    return [...this.channelsById.values()].filter((channel) => channel.active);
  }

  async channel(chatId: number): Promise<AppChannelRecord | undefined> {
    return this.channelsById.get(chatId);
  }

  async saveChannelSettings(chatId: number, settings: ChannelSettingsInput): Promise<AppChannelRecord> {
    const channel = this.channelsById.get(chatId);
    if (channel === undefined) throw new Error(`unknown channel ${chatId}`);
    const updated = { ...channel, settings };
    this.channelsById.set(chatId, updated);
    return updated;
  }

  /** The chain watcher's write: credits a top-up once per transaction; false when already recorded. */
  async recordCredit(credit: ChainCredit): Promise<boolean> {
    const key = `${credit.lt}:${credit.hash}`;
    if (this.credits.has(key)) return false;
    this.credits.set(key, credit);
    this.memoryAccount(credit.userId).tonCredit += credit.amount;
    return true;
  }

  /** A paid Stars invoice (the bot's successful_payment). */
  async addStars(userId: number, stars: number): Promise<void> {
    this.memoryAccount(userId).starsCredit += stars;
  }

  /** Records a finished job, newest first, and charges what it says it was paid with. */
  async recordJob(userId: number, job: HistoryJob): Promise<void> {
    const account = this.memoryAccount(userId);
    if (job.paidWith === 'free') account.freeUsed += 1;
    if (job.paidWith === 'ton') {
      if (account.tonCredit < job.cost) throw new Error('insufficient TON credit for this job');
      account.tonCredit -= job.cost;
    }
    const jobs = this.jobsByUser.get(userId) ?? [];
    jobs.push(job);
    jobs.sort((a, b) => b.createdAt - a.createdAt);
    this.jobsByUser.set(userId, jobs);
  }

  async upsertChannel(channel: AppChannelRecord): Promise<void> {
    this.channelsById.set(channel.chatId, channel);
  }

  private memoryAccount(userId: number): MemoryAccount {
    let account = this.accounts.get(userId);
    const now = this.now();
    if (account === undefined) {
      account = { tonCredit: 0n, starsCredit: 0, freeUsed: 0, periodStart: now };
      this.accounts.set(userId, account);
    } else if (now >= account.periodStart + this.freePeriodSeconds) {
      account.freeUsed = 0;
      account.periodStart = now;
    }
    return account;
  }
}

const topUpKey = (userId: number, queryId: bigint) => `${userId}:${queryId}`;
