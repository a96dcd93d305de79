// Load, bounded and on loopback: 1,000 users ask the bot for a summary at once. Everything is real except
// the Telegram Bot API (the recording one) and the engine (the fake one): the bot's NetworkSummarizer with a
// real CocoonClient, a real proxy, and real workers on the fake engine. Every user gets a summary or the
// "try again in a minute" answer; nothing crashes; memory stays bounded. Figures are printed, not asserted.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningTelegramApp, startTelegramApp } from '@cocoon/bot';
import { CocoonClient, generateSigningKeyPair, loadConfig } from '@cocoon/shared';
import { createLogger } from '@cocoon/shared/log';
import type { Store } from '@cocoon/shared/store';
import { type RunningWorker, startWorker } from '@cocoon/worker';
import { FakeEngine } from '@cocoon/worker/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingBotApi } from '../../bot/test/support/bot-api.js';
import { openTestStore } from '../../shared/test/support/test-store.js';
import {
  devPolicy,
  fakeModel,
  freshPayoutAddress,
  type LocalProxy,
  startLocalProxy,
  waitFor,
} from './support/faults.js';

const USERS = 1_000;
const WORKERS = 3;
const model = fakeModel();
const log = createLogger('load', 'silent');
let dir: string;
let botApi: RecordingBotApi;
let local: LocalProxy;
let botStore: Store<unknown>;
let app: RunningTelegramApp;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cocoon-load-'));
  botApi = await RecordingBotApi.start();
  // The bot is one client account for all its users: it queues its jobs within the proxy's per-client limits
  // and refuses, as busy, what its bounded queue cannot hold.
  local = await startLocalProxy(model, {
    limits: { maxJobsPerClient: 64, clientRatePerSecond: 200, clientBurst: 200, maxQueuePerModel: 64 },
  });
  for (let i = 0; i < WORKERS; i++) {
    workers.push(
      await startWorker({
        config: loadConfig({
          PROXY_URL: local.proxy.url,
          WORKER_PAYOUT_ADDRESS: freshPayoutAddress(),
          WORKER_ATTESTATION: 'dev',
        }),
        log,
        engine: new FakeEngine({ models: [{ id: model, parallelJobs: 4 }], tokenDelayMs: 2 }),
        statusPort: null,
      }),
    );
  }
  await waitFor(() => local.proxy.registry.all().length === WORKERS, 'the workers admitted', 30_000);
  botStore = await openTestStore('load-bot');
  app = await startTelegramApp({
    store: botStore,
    client: new CocoonClient({
      proxyUrl: local.proxy.url,
      clientKey: generateSigningKeyPair(),
      policy: devPolicy(model),
    }),
    token: botApi.token,
    appToken: botApi.token,
    apiRoot: botApi.apiRoot,
    botInfo: botApi.botInfo,
    host: '127.0.0.1',
    port: 0,
    staticDir: join(dir, 'no-miniapp'),
    clientContractAddress: '0:'.padEnd(66, '0'),
    network: async () => ({ models: [], workers: [] }),
    policy: async () => devPolicy(model),
    logger: log,
  });
}, 90_000);

afterAll(async () => {
  await app?.stop();
  await Promise.all(workers.map((worker) => worker.stop()));
  await local?.close();
  await botStore?.close();
  await botApi?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

describe(`${USERS} users asking for a summary at once`, () => {
  it('answers each one with a summary or a clear "try again" message, and stays up and bounded', async () => {
    const busyText = 'Many people are asking for summaries right now. Please try again in a minute.';
    const baselineRss = process.memoryUsage().rss;
    let peakRss = baselineRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 50);

    // The moment each user's progress message turns into its outcome, seen from the Bot API's side.
    const startedAt = new Map<number, number>();
    const outcome = new Map<number, { at: number; text: string }>();
    let scanned = 0;
    const scan = () => {
      for (; scanned < botApi.calls.length; scanned++) {
        const call = botApi.calls[scanned];
        if (call?.method !== 'editMessageText' && call?.method !== 'sendMessage') continue;
        const chatId = Number(call.params.chat_id);
        const text = String(call.params.text);
        if (text.startsWith('⏳')) continue;
        if (!outcome.has(chatId)) outcome.set(chatId, { at: performance.now(), text });
      }
    };
    const watcher = setInterval(scan, 10);

    for (let i = 0; i < USERS; i++) {
      const userId = 100_000 + i;
      // distinct texts: identical posts would share one summary
      const text = `Post number ${i}. TON is a blockchain that Telegram uses for payments. `.repeat(5);
      startedAt.set(userId, performance.now());
      botApi.deliver(botApi.privateText(botApi.user(userId), text));
    }
    await waitFor(() => outcome.size === USERS, `an answer for each of the ${USERS} users`, 150_000).finally(
      () => {
        clearInterval(watcher);
        clearInterval(sampler);
      },
    );
    scan();

    const refused = [...outcome.values()].filter((o) => o.text === busyText);
    const answered = [...outcome.values()].filter((o) => o.text !== busyText);
    expect(answered.length + refused.length).toBe(USERS);
    // the bot's queue takes what the proxy allows at once and a bounded backlog; the rest is told "busy"
    expect(answered.length).toBeGreaterThanOrEqual(256);
    expect(refused.length).toBeGreaterThan(0);
    const latencies = [...outcome.entries()]
      .map(([chatId, o]) => o.at - (startedAt.get(chatId) ?? o.at))
      .sort((a, b) => a - b);

    // every job the bot sent completed, or was refused by the proxy as busy; nothing else failed
    const jobs = (await local.proxy.metrics.jobs.get()).values;
    const byOutcome = new Map<string, number>();
    for (const { labels, value } of jobs) {
      const key = `${labels.outcome}:${labels.code}`;
      byOutcome.set(key, (byOutcome.get(key) ?? 0) + value);
    }
    const busy = ['rejected:rate_limited', 'rejected:too_many_jobs', 'rejected:queue_full'];
    const unexpected = [...byOutcome.keys()].filter((key) => key !== 'completed:' && !busy.includes(key));
    expect(unexpected, JSON.stringify([...byOutcome])).toEqual([]);
    expect(byOutcome.get('completed:')).toBe(answered.length);
    expect(busy.reduce((sum, key) => sum + (byOutcome.get(key) ?? 0), 0)).toBeLessThanOrEqual(refused.length);

    // still up: it answers health checks and runs a job after the burst
    const health = await fetch(`${local.proxy.url}/healthz`);
    expect(health.status).toBe(200);
    expect(local.proxy.registry.all()).toHaveLength(WORKERS);
    // bounded: the whole network in this process grew by less than 1 GiB under the burst
    expect(peakRss - baselineRss).toBeLessThan(2 ** 30);
    console.log(
      `load: ${USERS} users, ${answered.length} answered, ${refused.length} refused (busy); ` +
        `p50 ${Math.round(percentile(latencies, 50))} ms, p99 ${Math.round(percentile(latencies, 99))} ms; ` +
        `RSS ${mib(baselineRss)} MiB before, ${mib(peakRss)} MiB peak; proxy outcomes ${JSON.stringify([...byOutcome])}`,
    );
  }, 180_000);
});
