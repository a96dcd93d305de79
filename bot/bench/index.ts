/**
 * Bot benchmark (Node-only by nature). Run: npm run bench -w @cocoon/bot
 * Updates handled per second without inference: the whole bot (its middleware, i18n, handlers and store)
 * through `bot.handleUpdate`, with the recording Bot API answering in process (no network) and the fake
 * summarizer. A realistic mix: /start, /balance, channel posts that get the ✨ Summary button, taps on a post
 * whose summary is stored, and pasted texts too short to summarize; a fifth of the users speak Russian.
 * The real SqlBotStore on PGlite (the default deployment), then the in-memory store, each one update at a time
 * (latency) and with many in flight (throughput, as the runner or a webhook delivers them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLogger } from '@cocoon/shared/log';
import { openStore } from '@cocoon/shared/store';
import type { Bot } from 'grammy';
import type { Chat, ChatMember, Message, Update, User } from 'grammy/types';
import { createBot } from '../src/bot.js';
import type { BotContext } from '../src/i18n.js';
import { InMemoryBotStore } from '../src/store/memory.js';
import { SqlBotStore } from '../src/store/sql.js';
import type { BotStore } from '../src/store/types.js';
import { FakeSummarizer } from '../src/summarize/fake-summarizer.js';
import { RecordingBotApi } from '../test/support/bot-api.js';

const UPDATES = Math.min(Number(process.env.BENCH_UPDATES ?? 5_000), 50_000);
const WARMUP = 250;
const IN_FLIGHT = 32;
const USERS = 1_000;
const TARGET_PER_SECOND = 1_000;

const KINDS = ['/start', '/balance', 'channel post', 'tap (stored summary)', 'short text'] as const;
type Kind = (typeof KINDS)[number];

const LONG_POST =
  'Starting Monday, the ferry between the harbour and the islands runs every 40 minutes instead of every hour. ' +
  'The port authority says the change follows a year of record passenger numbers and two new boats. ' +
  'Evening sailings are extended until 23:00 on Fridays and Saturdays. '.repeat(3);

/** Store calls and the time spent awaiting them, to say how much of an update is the store's. */
class TimedStore {
  calls = 0;
  ms = 0;
  wrap(store: BotStore): BotStore {
    return new Proxy(store, {
      get: (target, name, receiver) => {
        const value = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const started = performance.now();
          try {
            return await value.apply(target, args);
          } finally {
            this.calls += 1;
            this.ms += performance.now() - started;
          }
        };
      },
    });
  }
}

interface Workload {
  bot: Bot<BotContext>;
  updates: { kind: Kind; update: Update }[];
  warmup: Update[];
}

async function workload(api: RecordingBotApi, store: BotStore): Promise<Workload> {
  const bot = createBot(
    { token: api.token, botInfo: api.botInfo },
    { store, summarizer: new FakeSummarizer(), logger: createLogger('bot-bench', 'silent') },
  );
  bot.api.config.use(api.transformer());
  const users: User[] = Array.from({ length: USERS }, (_, i) =>
    api.user(10_000 + i, `User ${i}`, i % 5 === 0 ? 'ru' : 'en'),
  );
  const admin = users[0] as User;
  const channel = api.channel(-1001000000001, 'Harbour news') as Chat.ChannelChat;
  api.setMember(channel.id, { status: 'creator', user: admin, is_anonymous: false } as ChatMember);
  const member = api.botAdministrator();
  api.setBotMember(channel.id, member);
  await bot.handleUpdate(api.myChatMember(channel, admin, { status: 'left', user: api.botInfo }, member));
  // One post whose summary is made once: every tap after that is answered from the store.
  const posted = api.channelPost(channel, LONG_POST);
  await bot.handleUpdate(posted);
  const post = api.message(channel.id, posted.channel_post?.message_id ?? 0) as Message;
  await bot.handleUpdate(api.callbackQuery(admin, post, 'summary'));

  const make = (index: number): { kind: Kind; update: Update } => {
    const user = users[index % USERS] as User;
    const kind = KINDS[index % KINDS.length] as Kind;
    switch (kind) {
      case '/start':
        return { kind, update: api.command(user, 'start') };
      case '/balance':
        return { kind, update: api.command(user, 'balance') };
      case 'channel post':
        return { kind, update: api.channelPost(channel, `${index}. ${LONG_POST}`) };
      case 'tap (stored summary)':
        return { kind, update: api.callbackQuery(user, post, 'summary') };
      case 'short text':
        return { kind, update: api.privateText(user, 'Good morning! Is the ferry on time today?') };
    }
  };
  return {
    bot,
    warmup: Array.from({ length: WARMUP }, (_, i) => make(i).update),
    updates: Array.from({ length: UPDATES }, (_, i) => make(WARMUP + i)),
  };
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

interface Run {
  perSecond: number;
  p50: number;
  p99: number;
  byKind: Map<Kind, number[]>;
}

/** Handles every update with `inFlight` at a time; returns the rate and each update's time. */
async function handleAll({ bot, updates }: Workload, inFlight: number): Promise<Run> {
  const times: number[] = [];
  const byKind = new Map<Kind, number[]>(KINDS.map((kind) => [kind, []]));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < updates.length) {
        const { kind, update } = updates[next++] as Workload['updates'][number];
        const begun = performance.now();
        await bot.handleUpdate(update);
        const ms = performance.now() - begun;
        times.push(ms);
        byKind.get(kind)?.push(ms);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return {
    perSecond: updates.length / seconds,
    p50: quantile(times, 0.5),
    p99: quantile(times, 0.99),
    byKind,
  };
}

async function bench(name: string, store: BotStore) {
  const rows: string[] = [];
  let limits = '';
  for (const inFlight of [1, IN_FLIGHT]) {
    const api = await RecordingBotApi.start();
    const timed = new TimedStore();
    try {
      const load = await workload(api, timed.wrap(store));
      for (const update of load.warmup) await load.bot.handleUpdate(update);
      timed.calls = 0;
      timed.ms = 0;
      const cpuBefore = process.cpuUsage();
      const run = await handleAll(load, inFlight);
      const cpu = process.cpuUsage(cpuBefore);
      rows.push(
        [
          name.padEnd(8),
          String(inFlight).padStart(9),
          run.perSecond.toFixed(0).padStart(10),
          run.p50.toFixed(3).padStart(8),
          run.p99.toFixed(3).padStart(8),
          ((cpu.user + cpu.system) / 1000 / UPDATES).toFixed(3).padStart(11),
          `${(run.perSecond / TARGET_PER_SECOND).toFixed(2)}×`.padStart(10),
        ].join(' '),
      );
      if (inFlight === 1) {
        const totalMs = (UPDATES / run.perSecond) * 1000;
        const perKind = KINDS.map((kind) => {
          const sorted = (run.byKind.get(kind) ?? []).sort((a, b) => a - b);
          return `${kind} ${quantile(sorted, 0.5).toFixed(3)}`;
        }).join(' · ');
        limits =
          `  ${name}, one at a time: p50 ms by kind: ${perKind}\n` +
          `  ${name}: ${(timed.calls / UPDATES).toFixed(1)} store calls per update, ` +
          `${(timed.ms / UPDATES).toFixed(3)} ms awaited in the store per update ` +
          `(${((timed.ms / totalMs) * 100).toFixed(0)}% of the time); the rest is grammY, i18n and the handlers`;
      }
    } finally {
      await api.close();
    }
  }
  return { rows, limits };
}

const cpus = os.cpus();
console.log(`bot benchmark: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, Node ${process.version}`);
console.log(
  `${UPDATES} updates after ${WARMUP} of warm-up: ${KINDS.join(', ')}; ${USERS} users, a fifth in Russian;\n` +
    `the Bot API answered in process, no inference. Target: ${TARGET_PER_SECOND} updates/s.\n`,
);
console.log('store    in flight  updates/s   p50 ms   p99 ms  CPU ms/upd  vs target');
const dataDir = await mkdtemp(join(os.tmpdir(), 'cocoon-bot-bench-'));
const shared = await openStore({ dataDir });
const explanations: string[] = [];
try {
  for (const [name, store] of [
    ['PGlite', await SqlBotStore.open(shared)],
    ['memory', new InMemoryBotStore()],
  ] as const) {
    const { rows, limits } = await bench(name, store);
    for (const row of rows) console.log(row);
    explanations.push(limits);
  }
} finally {
  await shared.close();
  await rm(dataDir, { recursive: true, force: true });
}
console.log(`\nWhat limits it:\n${explanations.join('\n')}`);
