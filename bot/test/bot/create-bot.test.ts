import { afterEach, expect, it } from 'vitest';
import { createBot } from '../../src/bot.js';
import { InMemoryBotStore } from '../../src/store/memory.js';
import { FakeSummarizer } from '../../src/summarize/fake-summarizer.js';
import { parseTelegramHtml } from '../support/bot-api.js';
import { type Harness, startHarness } from '../support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it('runs with real grammY long polling against the recording API', async () => {
  h = await startHarness();
  const running = h.bot.start();
  const user = h.api.user(31, 'Poll');
  h.api.deliver(h.api.command(user, 'help'));
  const sent = await h.api.waitForCall('sendMessage', (params) => params.chat_id === user.id);
  await h.bot.stop();
  await running;
  expect(parseTelegramHtml(String(sent.text))).toContain('What I do');
});

it('logs a failed update with the API error only, never the texts involved', async () => {
  h = await startHarness();
  const running = h.bot.start();
  const user = h.api.user(32, 'Poll');
  const post = `The secret launch date of project Lighthouse is the fourth of March. ${'More details follow. '.repeat(12)}`;
  h.api.failNext(
    'editMessageText',
    { error_code: 400, description: 'Bad Request: message to edit not found' },
    2,
  );
  h.api.deliver(h.api.privateText(user, post));
  h.api.deliver(h.api.command(user, 'help'));
  await h.api.waitForCall('sendMessage', (params) => String(params.text).includes('What I do'));
  await h.bot.stop();
  await running;
  const logs = h.logs.join('\n');
  expect(logs).toContain('"update failed"');
  expect(logs).toContain('message to edit not found');
  expect(logs).not.toContain('Lighthouse');
});

it('refuses invalid settings', () => {
  const dependencies = { store: new InMemoryBotStore(), summarizer: new FakeSummarizer() };
  expect(() => createBot({ token: 'x', settings: { tapWaitMs: -1 } }, dependencies)).toThrow();
  expect(() => createBot({ token: 'x', settings: { privateLanguage: 'Russian' } }, dependencies)).toThrow(
    'ISO 639-1',
  );
});
