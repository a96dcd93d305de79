import type {
  BotStore,
  ChannelSettings,
  ChargeSettlement,
  JobProof,
  JobRecord,
  LedgerEntry,
  LedgerKind,
  StoredSummary,
  TopUpIntentRecord,
  UserLocale,
  UserSettings,
} from './types.js';

/** A BotStore in process memory: for tests and a single process without a database. */
export class InMemoryBotStore implements BotStore {
  private readonly channels = new Map<number, ChannelSettings>();
  private readonly users = new Map<number, UserSettings>();
  private readonly locales = new Map<number, UserLocale>();
  private readonly summaries = new Map<string, StoredSummary>();
  private readonly ledger = new Map<string, LedgerEntry>();
  private readonly freeUsed = new Map<string, number>();
  private readonly jobs: JobRecord[] = [];
  /** The proofs each Charge settled, by the query id of its voucher. */
  private readonly settledByCharge = new Map<bigint, JobProof[]>();
  private readonly topUps = new Map<string, TopUpIntentRecord>();

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

  async getUserLocale(userId: number): Promise<UserLocale | undefined> {
    const locale = this.locales.get(userId);
    return locale === undefined ? undefined : { ...locale };
  }

  async saveUserLocale(locale: UserLocale): Promise<void> {
    this.locales.set(locale.userId, { ...locale });
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

  async ledgerTotals(account: number, since?: number): Promise<Record<LedgerKind, bigint>> {
    const totals: Record<LedgerKind, bigint> = { stars: 0n, ton: 0n, job: 0n, refund: 0n };
    for (const entry of this.ledger.values()) {
      if (entry.account === account && (since === undefined || entry.at >= since))
        totals[entry.kind] += entry.amount;
    }
    return totals;
  }

  async recordJob(job: JobRecord): Promise<void> {
    this.jobs.push(structuredClone(job));
  }

  async recentJobs(
    userId: number,
    limit: number,
    filter: { before?: number; proven?: boolean } = {},
  ): Promise<JobRecord[]> {
    const { before, proven } = filter;
    return this.jobs
      .map((job, order) => ({ job, order }))
      .filter(({ job }) => job.userId === userId)
      .filter(({ job }) => (before === undefined || job.at < before) && (!proven || job.proof !== undefined))
      .sort((a, b) => b.job.at - a.job.at || b.order - a.order)
      .slice(0, limit)
      .map(({ job }) => structuredClone(job));
  }

  async settleJobs(jobIds: readonly string[], settlement: { lt: string; hash: string }): Promise<void> {
    for (const job of this.jobs) {
      if (job.proof !== undefined && jobIds.includes(job.proof.jobId))
        job.proof.settlement = { ...settlement };
    }
  }

  async settleJobsUpTo(total: bigint, { lt, hash, queryId }: ChargeSettlement): Promise<number> {
    const settled: JobProof[] = [];
    for (const { proof } of this.jobs) {
      if (proof?.voucherTotal === undefined || proof.voucherTotal > total || proof.settlement) continue;
      proof.settlement = { lt, hash };
      settled.push(proof);
    }
    if (settled.length > 0) this.settledByCharge.set(queryId, settled);
    return settled.length;
  }

  async unsettleCharge(queryId: bigint): Promise<number> {
    const settled = this.settledByCharge.get(queryId) ?? [];
    this.settledByCharge.delete(queryId);
    for (const proof of settled) delete proof.settlement;
    return settled.length;
  }

  async activeChannels(): Promise<ChannelSettings[]> {
    return [...this.channels.values()].filter((channel) => channel.active).map((channel) => ({ ...channel }));
  }

  async saveTopUpIntent(intent: TopUpIntentRecord): Promise<void> {
    this.topUps.set(topUpKey(intent.userId, intent.queryId), { ...intent });
  }

  async topUpIntent(userId: number, queryId: bigint): Promise<TopUpIntentRecord | undefined> {
    const intent = this.topUps.get(topUpKey(userId, queryId));
    return intent === undefined ? undefined : { ...intent };
  }

  async linkTopUpCredit(userId: number, queryId: bigint, creditKey: string): Promise<void> {
    const intent = this.topUps.get(topUpKey(userId, queryId));
    if (intent !== undefined && intent.creditKey === undefined) intent.creditKey = creditKey;
  }
}

const topUpKey = (userId: number, queryId: bigint) => `${userId}:${queryId}`;
