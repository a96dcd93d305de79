import type {
  BotStore,
  ChannelSettings,
  JobRecord,
  LedgerEntry,
  StoredSummary,
  UserSettings,
} from './types.js';

/** A BotStore in process memory: for tests and a single process without a database. */
export class InMemoryBotStore implements BotStore {
  private readonly channels = new Map<number, ChannelSettings>();
  private readonly users = new Map<number, UserSettings>();
  private readonly summaries = new Map<string, StoredSummary>();
  private readonly ledger = new Map<string, LedgerEntry>();
  private readonly freeUsed = new Map<string, number>();
  private readonly jobs: JobRecord[] = [];

  async getChannel(chatId: number): Promise<ChannelSettings | undefined> {
    const settings = this.channels.get(chatId);
    return settings === undefined ? undefined : { ...settings };
  }

  async saveChannel(settings: ChannelSettings): Promise<void> {
    this.channels.set(settings.chatId, { ...settings });
  }

  async getUserSettings(userId: number): Promise<UserSettings | undefined> {
    const settings = this.users.get(userId);
    return settings === undefined ? undefined : { ...settings };
  }

  async saveUserSettings(settings: UserSettings): Promise<void> {
    this.users.set(settings.userId, { ...settings });
  }

  async getSummary(id: string, now: number): Promise<StoredSummary | undefined> {
    const summary = this.summaries.get(id);
    return summary === undefined || summary.expiresAt <= now ? undefined : structuredClone(summary);
  }

  async saveSummary(summary: StoredSummary): Promise<void> {
    this.summaries.set(summary.id, structuredClone(summary));
  }

  async deleteExpiredSummaries(now: number): Promise<number> {
    let deleted = 0;
    for (const [id, summary] of this.summaries) {
      if (summary.expiresAt <= now && this.summaries.delete(id)) deleted++;
    }
    return deleted;
  }

  async addLedgerEntry(entry: LedgerEntry): Promise<boolean> {
    if (this.ledger.has(entry.key)) return false;
    this.ledger.set(entry.key, { ...entry });
    return true;
  }

  async ledgerEntry(key: string): Promise<LedgerEntry | undefined> {
    const entry = this.ledger.get(key);
    return entry === undefined ? undefined : { ...entry };
  }

  async balance(account: number): Promise<bigint> {
    let total = 0n;
    for (const entry of this.ledger.values()) if (entry.account === account) total += entry.amount;
    return total;
  }

  async takeFreeSummary(userId: number, day: string, limit: number): Promise<boolean> {
    const used = this.freeUsed.get(`${userId}:${day}`) ?? 0;
    if (used >= limit) return false;
    this.freeUsed.set(`${userId}:${day}`, used + 1);
    return true;
  }

  async returnFreeSummary(userId: number, day: string): Promise<void> {
    const used = this.freeUsed.get(`${userId}:${day}`) ?? 0;
    if (used > 0) this.freeUsed.set(`${userId}:${day}`, used - 1);
  }

  async freeSummariesUsed(userId: number, day: string): Promise<number> {
    return this.freeUsed.get(`${userId}:${day}`) ?? 0;
  }

  async recordJob(job: JobRecord): Promise<void> {
    this.jobs.push({ ...job });
  }

  async recentJobs(userId: number, limit: number): Promise<JobRecord[]> {
    return this.jobs
      .map((job, order) => ({ job, order }))
      .filter(({ job }) => job.userId === userId)
      .sort((a, b) => b.job.at - a.job.at || b.order - a.order)
      .slice(0, limit)
      .map(({ job }) => ({ ...job }));
  }
}
