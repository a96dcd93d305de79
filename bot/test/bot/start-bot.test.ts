import { createLogger } from '@cocoon/shared/log';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningBot, startBot } from '../../src/start.js';
import { InMemoryBotStore } from '../../src/store/memory.js';
import { FakeSummarizer } from '../../src/summarize/fake-summarizer.js';
import { RecordingBotApi } from '../support/bot-api.js';

const TEXT =
  'The harbour ferry now runs every forty minutes. Evening sailings last until eleven on weekends. ' +
  'Season tickets stay valid. Prices do not change this year. The timetable is posted at every pier and on the port website.';
const ann = { id: 601, is_bot: false as const, first_name: 'Ann' };
const bob = { id: 602, is_bot: false as const, first_name: 'Bob' };

let api: RecordingBotApi;
let running: RunningBot | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await api?.close();
});

async function start(delayMs: number) {
  api = await RecordingBotApi.start();
  const store = new InMemoryBotStore();
  running = await startBot({
    token: api.token,
    apiRoot: api.apiRoot,
    store,
    summarizer: new FakeSummarizer({ delayMs }),
    logger: createLogger('bot-test', 'silent'),
  });
  return store;
}

/** Index in the call log of the first call matching. */
const callIndex = (method: string, matches: (params: Record<string, unknown>) => boolean) =>
  api.calls.findIndex((call) => call.method === method && matches(call.params));

describe('startBot', () => {
  it('polls with the runner: other chats go on while one waits, and a chat’s updates stay in order', async () => {
    await start(400);
    api.deliver(api.privateText(ann, TEXT));
    api.deliver(api.command(ann, 'balance'));
    api.deliver(api.command(bob, 'balance'));
    await api.waitForCall('sendMessage', (params) => params.chat_id === bob.id);
    // Bob is answered while Ann's summary is still being made.
    expect(callIndex('editMessageText', (params) => params.chat_id === ann.id)).toBe(-1);
    await api.waitForCall(
      'sendMessage',
      (params) => params.chat_id === ann.id && /credit/.test(String(params.text)),
    );
    const summaryEdit = callIndex('editMessageText', (params) => params.chat_id === ann.id);
    const annBalance = callIndex(
      'sendMessage',
      (params) => params.chat_id === ann.id && /credit/.test(String(params.text)),
    );
    expect(summaryEdit).toBeGreaterThan(-1);
    expect(annBalance).toBeGreaterThan(summaryEdit);
    expect(api.callsTo('getMe')).toHaveLength(1);
    expect(api.callsTo('getUpdates')[0]?.allowed_updates).toContain('pre_checkout_query');
  });

  it('stops polling on stop()', async () => {
    await start(0);
    await api.waitForCall('getUpdates');
    await running?.stop();
    const polls = api.callsTo('getUpdates').length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(api.callsTo('getUpdates')).toHaveLength(polls);
  });

  it('credits a TON top-up once and tells the user', async () => {
    const store = await start(0);
    const topUp = { userId: ann.id, amount: 1_500_000_000n, lt: 77n, hash: 'ef'.repeat(32) };
    expect(await running?.creditTonTopUp(topUp)).toBe(true);
    expect(await running?.creditTonTopUp(topUp)).toBe(false);
    expect(await store.balance(ann.id)).toBe(1_500_000_000n);
    expect(api.callsTo('sendMessage').filter((params) => params.chat_id === ann.id)).toEqual([
      expect.objectContaining({ text: '✅ 1.5 TON added. Your credit: 1.5 TON.' }),
    ]);
  });
});
