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
}

/** Persistence of the bot: an in-memory implementation now, a SQL one over shared's Store later. */
export interface BotStore {
  getChannel(chatId: number): Promise<ChannelSettings | undefined>;
  saveChannel(settings: ChannelSettings): Promise<void>;
  getSummary(id: string): Promise<StoredSummary | undefined>;
  /** Saves a summary under its id, replacing an older one with the same id. */
  saveSummary(summary: StoredSummary): Promise<void>;
}
