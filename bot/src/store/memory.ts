import type { BotStore, ChannelSettings, StoredSummary } from './types.js';

/** A BotStore in process memory: for tests and a single process without a database. */
export class InMemoryBotStore implements BotStore {
  private readonly channels = new Map<number, ChannelSettings>();
  private readonly summaries = new Map<string, StoredSummary>();

  async getChannel(chatId: number): Promise<ChannelSettings | undefined> {
    const settings = this.channels.get(chatId);
    return settings === undefined ? undefined : { ...settings };
  }

  async saveChannel(settings: ChannelSettings): Promise<void> {
    this.channels.set(settings.chatId, { ...settings });
  }

  async getSummary(id: string): Promise<StoredSummary | undefined> {
    const summary = this.summaries.get(id);
    return summary === undefined ? undefined : structuredClone(summary);
  }

  async saveSummary(summary: StoredSummary): Promise<void> {
    this.summaries.set(summary.id, structuredClone(summary));
  }
}
