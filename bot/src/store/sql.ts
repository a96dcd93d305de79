// Node-only by nature: the bot's tables in shared's SQL Store (PGlite data folder or a Postgres server).
import { insertIfAbsent, type MigrationSet, type Store } from '@cocoon/shared/store';
import { type ColumnType, type Generated, type Kysely, type Selectable, sql } from 'kysely';
import { Locale } from '../i18n.js';
import { SummaryLanguage, SummaryLength } from '../summarize/types.js';
import type {
  BotStore,
  ChannelSettings,
  ChargeSettlement,
  JobPayer,
  JobProof,
  JobRecord,
  LedgerEntry,
  LedgerKind,
  StoredSummary,
  SummarySource,
  TopUpIntentRecord,
  UserLocale,
  UserSettings,
} from './types.js';

/** int8 columns come back as bigint (shared's parsers); ids and times are safe integers, so we take numbers in. */
type Int8 = ColumnType<bigint, number | bigint, number | bigint>;
type NullableInt8 = ColumnType<bigint | null, number | bigint | null, number | bigint | null>;
/** numeric(40,0) money: bigint both ways. */
type Money = ColumnType<bigint, bigint, bigint>;
type NullableMoney = ColumnType<bigint | null, bigint | null, bigint | null>;
type NullableJson<T> = ColumnType<T | null, string | null, string | null>;

export interface BotTables {
  bot_channels: {
    chat_id: Int8;
    title: string;
    enabled: boolean;
    min_post_length: number;
    language: string;
    length: string;
    payer: string;
    post_as_comment: boolean;
    added_by: NullableInt8;
    can_edit_messages: boolean;
    active: boolean;
    rights_warned_at: NullableInt8;
    sponsor_budget: NullableMoney;
  };
  bot_user_settings: { user_id: Int8; language: string; length: string };
  bot_user_locales: { user_id: Int8; locale: string; chosen: boolean };
  bot_summaries: {
    id: string;
    source: ColumnType<SummarySource, string, string>;
    language: string;
    length: string;
    summary: string;
    title: string | null;
    url: string | null;
    site_name: string | null;
    receipt_id: string | null;
    worker_id: string | null;
    created_at: Int8;
    expires_at: Int8;
  };
  bot_ledger: {
    key: string;
    account: Int8;
    amount: Money;
    kind: string;
    stars: number | null;
    at: Int8;
  };
  bot_free_usage: { user_id: Int8; day: string; used: number };
  bot_jobs: {
    seq: Generated<bigint>;
    summary_id: string;
    user_id: Int8;
    source_kind: string;
    prompt_tokens: number;
    completion_tokens: number;
    cost: Money;
    paid_by: string;
    account: Int8;
    receipt_id: string | null;
    worker_id: string | null;
    attestation_kind: string | null;
    at: Int8;
    source: NullableJson<SummarySource>;
    job_id: string | null;
    receipt_boc: string | null;
    receipt_signature: string | null;
    attestation: NullableJson<unknown>;
    settlement_lt: string | null;
    settlement_hash: string | null;
    voucher_total: NullableMoney;
    /** The query id of the Charge's voucher, so a Charge undone on chain can be found. */
    settlement_query_id: NullableMoney;
  };
  bot_topups: {
    user_id: Int8;
    query_id: Int8;
    amount: Money;
    created_at: Int8;
    valid_until: Int8;
    credit_key: string | null;
  };
}

export const botMigrations: MigrationSet = {
  name: 'bot',
  migrations: {
    '0001_bot': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('bot_channels')
          .addColumn('chat_id', 'int8', (col) => col.primaryKey())
          .addColumn('title', 'text', (col) => col.notNull())
          .addColumn('enabled', 'boolean', (col) => col.notNull())
          .addColumn('min_post_length', 'integer', (col) => col.notNull())
          .addColumn('language', 'text', (col) => col.notNull())
          .addColumn('length', 'text', (col) => col.notNull())
          .addColumn('payer', 'text', (col) => col.notNull())
          .addColumn('post_as_comment', 'boolean', (col) => col.notNull())
          .addColumn('added_by', 'int8')
          .addColumn('can_edit_messages', 'boolean', (col) => col.notNull())
          .addColumn('active', 'boolean', (col) => col.notNull())
          .addColumn('rights_warned_at', 'int8')
          .execute();
        await db.schema
          .createTable('bot_user_settings')
          .addColumn('user_id', 'int8', (col) => col.primaryKey())
          .addColumn('language', 'text', (col) => col.notNull())
          .addColumn('length', 'text', (col) => col.notNull())
          .execute();
        await db.schema
          .createTable('bot_summaries')
          .addColumn('id', 'text', (col) => col.primaryKey())
          .addColumn('source', 'jsonb', (col) => col.notNull())
          .addColumn('language', 'text', (col) => col.notNull())
          .addColumn('length', 'text', (col) => col.notNull())
          .addColumn('summary', 'text', (col) => col.notNull())
          .addColumn('title', 'text')
          .addColumn('url', 'text')
          .addColumn('site_name', 'text')
          .addColumn('receipt_id', 'text')
          .addColumn('worker_id', 'text')
          .addColumn('created_at', 'int8', (col) => col.notNull())
          .addColumn('expires_at', 'int8', (col) => col.notNull())
          .execute();
        await db.schema
          .createIndex('bot_summaries_expires_at')
          .on('bot_summaries')
          .column('expires_at')
          .execute();
        await db.schema
          .createTable('bot_ledger')
          .addColumn('key', 'text', (col) => col.primaryKey())
          .addColumn('account', 'int8', (col) => col.notNull())
          .addColumn('amount', sql`numeric(40,0)`, (col) => col.notNull())
          .addColumn('kind', 'text', (col) => col.notNull())
          .addColumn('stars', 'integer')
          .addColumn('at', 'int8', (col) => col.notNull())
          .execute();
        await db.schema.createIndex('bot_ledger_account').on('bot_ledger').column('account').execute();
        await db.schema
          .createTable('bot_free_usage')
          .addColumn('user_id', 'int8', (col) => col.notNull())
          .addColumn('day', 'text', (col) => col.notNull())
          .addColumn('used', 'integer', (col) => col.notNull())
          .addPrimaryKeyConstraint('bot_free_usage_pk', ['user_id', 'day'])
          .execute();
        await db.schema
          .createTable('bot_jobs')
          .addColumn('seq', 'bigserial', (col) => col.primaryKey())
          .addColumn('summary_id', 'text', (col) => col.notNull())
          .addColumn('user_id', 'int8', (col) => col.notNull())
          .addColumn('source_kind', 'text', (col) => col.notNull())
          .addColumn('prompt_tokens', 'integer', (col) => col.notNull())
          .addColumn('completion_tokens', 'integer', (col) => col.notNull())
          .addColumn('cost', sql`numeric(40,0)`, (col) => col.notNull())
          .addColumn('paid_by', 'text', (col) => col.notNull())
          .addColumn('account', 'int8', (col) => col.notNull())
          .addColumn('receipt_id', 'text')
          .addColumn('worker_id', 'text')
          .addColumn('attestation_kind', 'text')
          .addColumn('at', 'int8', (col) => col.notNull())
          .execute();
        await db.schema
          .createIndex('bot_jobs_user_at')
          .on('bot_jobs')
          .columns(['user_id', 'at desc', 'seq desc'])
          .execute();
      },
    },
    // The Mini App's needs: a channel's monthly sponsor budget, what a job's history entry shows and proves
    // (the source's address or ids, the signed receipt, the attestation, the settlement), and top-up intents.
    '0002_app': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('bot_channels').addColumn('sponsor_budget', sql`numeric(40,0)`).execute();
        await db.schema
          .alterTable('bot_jobs')
          .addColumn('source', 'jsonb')
          .addColumn('job_id', 'text')
          .addColumn('receipt_boc', 'text')
          .addColumn('receipt_signature', 'text')
          .addColumn('attestation', 'jsonb')
          .addColumn('settlement_lt', 'text')
          .addColumn('settlement_hash', 'text')
          .execute();
        await db.schema.createIndex('bot_jobs_job_id').on('bot_jobs').column('job_id').execute();
        await db.schema
          .createTable('bot_topups')
          .addColumn('user_id', 'int8', (col) => col.notNull())
          .addColumn('query_id', 'int8', (col) => col.notNull())
          .addColumn('amount', sql`numeric(40,0)`, (col) => col.notNull())
          .addColumn('created_at', 'int8', (col) => col.notNull())
          .addColumn('valid_until', 'int8', (col) => col.notNull())
          .addColumn('credit_key', 'text')
          .addPrimaryKeyConstraint('bot_topups_pk', ['user_id', 'query_id'])
          .execute();
      },
    },
    // The bot's interface language per user, so notifications outside a user's updates speak it too.
    '0003_locales': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('bot_user_locales')
          .addColumn('user_id', 'int8', (col) => col.primaryKey())
          .addColumn('locale', 'text', (col) => col.notNull())
          .addColumn('chosen', 'boolean', (col) => col.notNull())
          .execute();
      },
    },
    // Settlement on chain: the voucher total signed after each job, so a Charge of a total settles every
    // job up to it; the partial index finds the unsettled ones.
    '0004_settlement': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('bot_jobs').addColumn('voucher_total', sql`numeric(40,0)`).execute();
        await db.schema
          .createIndex('bot_jobs_unsettled')
          .on('bot_jobs')
          .column('voucher_total')
          .where(sql.ref('settlement_lt'), 'is', null)
          .execute();
      },
    },
    '0005_settlement_query_id': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('bot_jobs').addColumn('settlement_query_id', sql`numeric(20,0)`).execute();
      },
    },
  },
};

const optional = <K extends string, V>(key: K, value: V | null): { [P in K]?: V } =>
  (value === null ? {} : { [key]: value }) as { [P in K]?: V };

/** The bot's BotStore over shared's Store; open it with `SqlBotStore.open(store)` (which migrates). */
export class SqlBotStore implements BotStore {
  private constructor(private readonly db: Kysely<BotTables>) {}

  static async open(store: Store<unknown>): Promise<SqlBotStore> {
    await store.migrate(botMigrations);
    return new SqlBotStore(store.db as unknown as Kysely<BotTables>);
  }

  async getChannel(chatId: number): Promise<ChannelSettings | undefined> {
    const row = await this.db
      .selectFrom('bot_channels')
      .selectAll()
      .where('chat_id', '=', BigInt(chatId))
      .executeTakeFirst();
    return row === undefined ? undefined : channelOf(row);
  }

  async activeChannels(): Promise<ChannelSettings[]> {
    const rows = await this.db
      .selectFrom('bot_channels')
      .selectAll()
      .where('active', '=', true)
      .orderBy('chat_id')
      .execute();
    return rows.map(channelOf);
  }

  async saveChannel(settings: ChannelSettings): Promise<void> {
    const row = {
      title: settings.title,
      enabled: settings.enabled,
      min_post_length: settings.minPostLength,
      language: settings.language,
      length: settings.length,
      payer: settings.payer,
      post_as_comment: settings.postAsComment,
      added_by: settings.addedBy ?? null,
      can_edit_messages: settings.canEditMessages,
      active: settings.active,
      rights_warned_at: settings.rightsWarnedAt ?? null,
      sponsor_budget: settings.sponsorBudget ?? null,
    };
    await this.db
      .insertInto('bot_channels')
      .values({ chat_id: settings.chatId, ...row })
      .onConflict((conflict) => conflict.column('chat_id').doUpdateSet(row))
      .execute();
  }

  async getUserSettings(userId: number): Promise<UserSettings | undefined> {
    const row = await this.db
      .selectFrom('bot_user_settings')
      .selectAll()
      .where('user_id', '=', BigInt(userId))
      .executeTakeFirst();
    if (row === undefined) return undefined;
    return {
      userId,
      language: SummaryLanguage.parse(row.language),
      length: SummaryLength.parse(row.length),
    };
  }

  async saveUserSettings(settings: UserSettings): Promise<void> {
    const row = { language: settings.language, length: settings.length };
    await this.db
      .insertInto('bot_user_settings')
      .values({ user_id: settings.userId, ...row })
      .onConflict((conflict) => conflict.column('user_id').doUpdateSet(row))
      .execute();
  }

  async getUserLocale(userId: number): Promise<UserLocale | undefined> {
    const row = await this.db
      .selectFrom('bot_user_locales')
      .selectAll()
      .where('user_id', '=', BigInt(userId))
      .executeTakeFirst();
    return row === undefined ? undefined : { userId, locale: Locale.parse(row.locale), chosen: row.chosen };
  }

  async saveUserLocale({ userId, locale, chosen }: UserLocale): Promise<void> {
    await this.db
      .insertInto('bot_user_locales')
      .values({ user_id: userId, locale, chosen })
      .onConflict((conflict) => conflict.column('user_id').doUpdateSet({ locale, chosen }))
      .execute();
  }

  async getSummary(id: string, now: number): Promise<StoredSummary | undefined> {
    const row = await this.db
      .selectFrom('bot_summaries')
      .selectAll()
      .where('id', '=', id)
      .where('expires_at', '>', BigInt(now))
      .executeTakeFirst();
    if (row === undefined) return undefined;
    return {
      id: row.id,
      source: row.source,
      language: SummaryLanguage.parse(row.language),
      length: SummaryLength.parse(row.length),
      summary: row.summary,
      createdAt: Number(row.created_at),
      expiresAt: Number(row.expires_at),
      ...optional('title', row.title),
      ...optional('url', row.url),
      ...optional('siteName', row.site_name),
      ...optional('receiptId', row.receipt_id),
      ...optional('workerId', row.worker_id),
    };
  }

  async saveSummary(summary: StoredSummary): Promise<void> {
    const row = {
      source: JSON.stringify(summary.source),
      language: summary.language,
      length: summary.length,
      summary: summary.summary,
      title: summary.title ?? null,
      url: summary.url ?? null,
      site_name: summary.siteName ?? null,
      receipt_id: summary.receiptId ?? null,
      worker_id: summary.workerId ?? null,
      created_at: summary.createdAt,
      expires_at: summary.expiresAt,
    };
    await this.db
      .insertInto('bot_summaries')
      .values({ id: summary.id, ...row })
      .onConflict((conflict) => conflict.column('id').doUpdateSet(row))
      .execute();
  }

  async deleteExpiredSummaries(now: number): Promise<number> {
    const result = await this.db
      .deleteFrom('bot_summaries')
      .where('expires_at', '<=', BigInt(now))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  addLedgerEntry(entry: LedgerEntry): Promise<boolean> {
    return insertIfAbsent(
      this.db,
      'bot_ledger',
      {
        key: entry.key,
        account: entry.account,
        amount: entry.amount,
        kind: entry.kind,
        stars: entry.stars ?? null,
        at: entry.at,
      },
      ['key'],
    );
  }

  async ledgerEntry(key: string): Promise<LedgerEntry | undefined> {
    const row = await this.db.selectFrom('bot_ledger').selectAll().where('key', '=', key).executeTakeFirst();
    if (row === undefined) return undefined;
    return {
      key: row.key,
      account: Number(row.account),
      amount: row.amount,
      kind: row.kind as LedgerKind,
      at: Number(row.at),
      ...optional('stars', row.stars),
    };
  }

  async balance(account: number): Promise<bigint> {
    const row = await this.db
      .selectFrom('bot_ledger')
      .select(sql<bigint>`coalesce(sum(amount), 0)`.as('total'))
      .where('account', '=', BigInt(account))
      .executeTakeFirstOrThrow();
    return BigInt(row.total);
  }

  async takeFreeSummary(userId: number, day: string, limit: number): Promise<boolean> {
    if (limit <= 0) return false;
    // One statement: concurrent takes cannot both pass the limit.
    const row = await this.db
      .insertInto('bot_free_usage')
      .values({ user_id: userId, day, used: 1 })
      .onConflict((conflict) =>
        conflict
          .columns(['user_id', 'day'])
          .doUpdateSet({ used: sql`bot_free_usage.used + 1` })
          .where('bot_free_usage.used', '<', limit),
      )
      .returning('used')
      .executeTakeFirst();
    return row !== undefined;
  }

  async returnFreeSummary(userId: number, day: string): Promise<void> {
    await this.db
      .updateTable('bot_free_usage')
      .set({ used: sql`used - 1` })
      .where('user_id', '=', BigInt(userId))
      .where('day', '=', day)
      .where('used', '>', 0)
      .execute();
  }

  async freeSummariesUsed(userId: number, day: string): Promise<number> {
    const row = await this.db
      .selectFrom('bot_free_usage')
      .select('used')
      .where('user_id', '=', BigInt(userId))
      .where('day', '=', day)
      .executeTakeFirst();
    return row?.used ?? 0;
  }

  async ledgerTotals(account: number, since?: number): Promise<Record<LedgerKind, bigint>> {
    let query = this.db
      .selectFrom('bot_ledger')
      .select(['kind', sql<bigint>`sum(amount)`.as('total')])
      .where('account', '=', BigInt(account))
      .groupBy('kind');
    if (since !== undefined) query = query.where('at', '>=', BigInt(since));
    const totals: Record<LedgerKind, bigint> = { stars: 0n, ton: 0n, job: 0n, refund: 0n };
    for (const row of await query.execute()) totals[row.kind as LedgerKind] = BigInt(row.total);
    return totals;
  }

  async recordJob(job: JobRecord): Promise<void> {
    const { proof } = job;
    await this.db
      .insertInto('bot_jobs')
      .values({
        summary_id: job.summaryId,
        user_id: job.userId,
        source_kind: job.sourceKind,
        prompt_tokens: job.promptTokens,
        completion_tokens: job.completionTokens,
        cost: job.cost,
        paid_by: job.paidBy,
        account: job.account,
        receipt_id: job.receiptId ?? null,
        worker_id: job.workerId ?? null,
        attestation_kind: job.attestationKind ?? null,
        at: job.at,
        source: job.source === undefined ? null : JSON.stringify(job.source),
        job_id: proof?.jobId ?? null,
        receipt_boc: proof?.receipt.boc ?? null,
        receipt_signature: proof?.receipt.signature ?? null,
        attestation: proof === undefined ? null : JSON.stringify(proof.attestation),
        settlement_lt: proof?.settlement?.lt ?? null,
        settlement_hash: proof?.settlement?.hash ?? null,
        voucher_total: proof?.voucherTotal ?? null,
      })
      .execute();
  }

  async recentJobs(
    userId: number,
    limit: number,
    filter: { before?: number; proven?: boolean } = {},
  ): Promise<JobRecord[]> {
    let query = this.db
      .selectFrom('bot_jobs')
      .selectAll()
      .where('user_id', '=', BigInt(userId))
      .orderBy('at', 'desc')
      .orderBy('seq', 'desc')
      .limit(limit);
    if (filter.before !== undefined) query = query.where('at', '<', BigInt(filter.before));
    if (filter.proven) query = query.where('job_id', 'is not', null);
    const rows = await query.execute();
    return rows.map((row) => ({
      summaryId: row.summary_id,
      userId: Number(row.user_id),
      sourceKind: row.source_kind as SummarySource['kind'],
      promptTokens: row.prompt_tokens,
      completionTokens: row.completion_tokens,
      cost: row.cost,
      paidBy: row.paid_by as JobPayer,
      account: Number(row.account),
      at: Number(row.at),
      ...optional('receiptId', row.receipt_id),
      ...optional('workerId', row.worker_id),
      ...optional('attestationKind', row.attestation_kind),
      ...optional('source', row.source),
      ...optional('proof', proofOf(row)),
    }));
  }

  async settleJobs(jobIds: readonly string[], settlement: { lt: string; hash: string }): Promise<void> {
    if (jobIds.length === 0) return;
    await this.db
      .updateTable('bot_jobs')
      .set({ settlement_lt: settlement.lt, settlement_hash: settlement.hash })
      .where('job_id', 'in', [...jobIds])
      .execute();
  }

  async settleJobsUpTo(total: bigint, { lt, hash, queryId }: ChargeSettlement): Promise<number> {
    const result = await this.db
      .updateTable('bot_jobs')
      .set({ settlement_lt: lt, settlement_hash: hash, settlement_query_id: queryId })
      .where('voucher_total', '<=', total)
      .where('settlement_lt', 'is', null)
      .where('job_id', 'is not', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async unsettleCharge(queryId: bigint): Promise<number> {
    const result = await this.db
      .updateTable('bot_jobs')
      .set({ settlement_lt: null, settlement_hash: null, settlement_query_id: null })
      .where('settlement_query_id', '=', queryId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async saveTopUpIntent(intent: TopUpIntentRecord): Promise<void> {
    const row = {
      amount: intent.amount,
      created_at: intent.createdAt,
      valid_until: intent.validUntil,
      credit_key: intent.creditKey ?? null,
    };
    await this.db
      .insertInto('bot_topups')
      .values({ user_id: intent.userId, query_id: intent.queryId, ...row })
      .onConflict((conflict) => conflict.columns(['user_id', 'query_id']).doUpdateSet(row))
      .execute();
  }

  async topUpIntent(userId: number, queryId: bigint): Promise<TopUpIntentRecord | undefined> {
    const row = await this.db
      .selectFrom('bot_topups')
      .selectAll()
      .where('user_id', '=', BigInt(userId))
      .where('query_id', '=', queryId)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    return {
      userId,
      queryId: BigInt(row.query_id),
      amount: BigInt(row.amount),
      createdAt: Number(row.created_at),
      validUntil: Number(row.valid_until),
      ...optional('creditKey', row.credit_key),
    };
  }

  async linkTopUpCredit(userId: number, queryId: bigint, creditKey: string): Promise<void> {
    await this.db
      .updateTable('bot_topups')
      .set({ credit_key: creditKey })
      .where('user_id', '=', BigInt(userId))
      .where('query_id', '=', queryId)
      .where('credit_key', 'is', null)
      .execute();
  }
}

function channelOf(row: Selectable<BotTables['bot_channels']>): ChannelSettings {
  return {
    chatId: Number(row.chat_id),
    title: row.title,
    enabled: row.enabled,
    minPostLength: row.min_post_length,
    language: SummaryLanguage.parse(row.language),
    length: SummaryLength.parse(row.length),
    payer: row.payer === 'sponsor' ? 'sponsor' : 'reader',
    postAsComment: row.post_as_comment,
    canEditMessages: row.can_edit_messages,
    active: row.active,
    ...optional('addedBy', row.added_by === null ? null : Number(row.added_by)),
    ...optional('rightsWarnedAt', row.rights_warned_at === null ? null : Number(row.rights_warned_at)),
    ...optional('sponsorBudget', row.sponsor_budget === null ? null : BigInt(row.sponsor_budget)),
  };
}

function proofOf(row: Selectable<BotTables['bot_jobs']>): JobProof | null {
  if (row.job_id === null || row.receipt_boc === null || row.receipt_signature === null) return null;
  return {
    jobId: row.job_id,
    receipt: { boc: row.receipt_boc, signature: row.receipt_signature },
    attestation: row.attestation,
    ...optional('voucherTotal', row.voucher_total === null ? null : BigInt(row.voucher_total)),
    ...(row.settlement_lt === null || row.settlement_hash === null
      ? {}
      : { settlement: { lt: row.settlement_lt, hash: row.settlement_hash } }),
  };
}
