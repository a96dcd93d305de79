import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@cocoon/shared/log';
import type { Store } from '@cocoon/shared/store';
import type { Update } from 'grammy/types';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../../shared/test/support/test-store.js';
import { type RunningTelegramApp, startTelegramApp } from '../../src/runtime.js';
import { webhookPath, webhookSecret } from '../../src/start.js';
import { FakeSummarizer } from '../../src/summarize/fake-summarizer.js';
import { parseTelegramHtml, RecordingBotApi } from '../support/bot-api.js';

const WEBHOOK_URL = 'https://bot.example.org/telegram/updates';
const user = { id: 4242, is_bot: false as const, first_name: 'Wes', language_code: 'en' };

let dataDir: string;
let store: Store<unknown>;
let api: RecordingBotApi;
let running: RunningTelegramApp | undefined;
let logs: string[];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cocoon-bot-webhook-'));
  store = await openTestStore('bot-webhook');
}, 60_000);
afterAll(async () => {
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await api?.close();
});

async function start(webhook?: { url: string; secret?: string }) {
  api = await RecordingBotApi.start();
  logs = [];
  running = await startTelegramApp({
    store,
    summarizer: new FakeSummarizer(),
    token: api.token,
    apiRoot: api.apiRoot,
    botInfo: api.botInfo,
    ...(webhook === undefined ? {} : { webhook }),
    appToken: api.token,
    host: '127.0.0.1',
    port: 0,
    staticDir: join(dataDir, 'no-miniapp-here'),
    clientContractAddress: 'EQBvW8Z5huBkMJYdnfAEM5JqTNkuWX3diqYENkWsIL0XggGG',
    network: async () => ({ workers: [], models: [] }),
    policy: async () => ({ allowDev: true, imageHashes: [], models: [] }),
    logger: createLogger('webhook-test', 'debug', { write: (line: string) => void logs.push(line) }),
  });
  return running;
}

/** Telegram's delivery of one update to the webhook, over loopback. */
function deliver(update: Update, secret?: string): Promise<Response> {
  return fetch(`${running?.url}/telegram/updates`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(secret === undefined ? {} : { 'x-telegram-bot-api-secret-token': secret }),
    },
    body: JSON.stringify(update),
  });
}

describe('with WEBHOOK_URL', () => {
  it('sets the webhook with a secret derived from the token, and never polls or logs the secret', async () => {
    await start({ url: WEBHOOK_URL });
    const secret = webhookSecret(api.token);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(webhookSecret(api.token)).toBe(secret);
    expect(api.callsTo('setWebhook')).toEqual([
      expect.objectContaining({ url: WEBHOOK_URL, secret_token: secret }),
    ]);
    expect(api.callsTo('setWebhook')[0]?.allowed_updates).toContain('callback_query');
    expect(api.callsTo('getUpdates')).toEqual([]);
    expect(api.callsTo('deleteWebhook')).toEqual([]);
    expect(logs.join('\n')).not.toContain(secret);
  });

  it('handles an update POSTed with the right secret token', async () => {
    await start({ url: WEBHOOK_URL });
    const response = await deliver(api.command(user, 'start'), webhookSecret(api.token));
    expect(response.status).toBe(200);
    const [welcome] = api.sentMessages(user.id);
    expect(parseTelegramHtml(String(welcome?.text))).toMatch(/^Hi, Wes! I summarize/);
  });

  it('answers 401 to a wrong or missing secret token, and handles nothing', async () => {
    await start({ url: WEBHOOK_URL });
    const wrong = await deliver(api.command(user, 'start'), 'not-the-secret');
    const missing = await deliver(api.command(user, 'help'));
    expect([wrong.status, missing.status]).toEqual([401, 401]);
    expect(api.sentMessages()).toEqual([]);
  });

  it('uses WEBHOOK_SECRET when it is set', async () => {
    await start({ url: WEBHOOK_URL, secret: 'operator_chosen-Secret-42' });
    expect(api.callsTo('setWebhook')[0]).toMatchObject({ secret_token: 'operator_chosen-Secret-42' });
    expect((await deliver(api.command(user, 'start'), webhookSecret(api.token))).status).toBe(401);
    expect((await deliver(api.command(user, 'start'), 'operator_chosen-Secret-42')).status).toBe(200);
  });
});

describe('without WEBHOOK_URL', () => {
  it('removes a webhook left from an earlier run before it polls', async () => {
    await start();
    await api.waitForCall('getUpdates');
    const methods = api.calls.map((call) => call.method);
    expect(methods.indexOf('deleteWebhook')).toBeGreaterThanOrEqual(0);
    expect(methods.indexOf('deleteWebhook')).toBeLessThan(methods.indexOf('getUpdates'));
    expect(api.callsTo('setWebhook')).toEqual([]);
  });
});

describe('webhookPath', () => {
  it('is the URL’s path, which must be the webhook’s own', () => {
    expect(webhookPath(WEBHOOK_URL)).toBe('/telegram/updates');
    for (const url of ['https://bot.example.org/', 'https://bot.example.org/api/updates']) {
      expect(() => webhookPath(url)).toThrow(/WEBHOOK_URL needs a path of its own/);
    }
  });
});
