import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetworkSummarizer } from '@cocoon/bot';
import { ClientContract } from '@cocoon/contracts';
import { loadConfig, verifyReceipt } from '@cocoon/shared';
import { createLogger } from '@cocoon/shared/log';
import { signInitData } from '@cocoon/shared/protocol/app-api';
import { writeTinyGguf } from '@cocoon/worker/testing';
import { Address } from '@ton/core';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingBotApi } from '../../bot/test/support/bot-api.js';
import { createTestDatabase, type TestDatabase } from '../../shared/test/support/test-store.js';
import { type RunningNetwork, startNetwork } from '../src/network.js';
import { statusRows } from '../src/start.js';

const log = createLogger('test', 'silent');
let dir: string;
let network: RunningNetwork;
let model: string;
let config: ReturnType<typeof loadConfig>;
let botApi: RecordingBotApi;
/** Set when the suite runs on Postgres (COCOON_TEST_DATABASE_URL); the network then uses it as DATABASE_URL. */
let database: TestDatabase | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cocoon-network-'));
  const tiny = await writeTinyGguf(join(dir, 'tiny.gguf'), { contextLength: 4096 });
  model = tiny.sha256;
  botApi = await RecordingBotApi.start();
  database = await createTestDatabase('cli-network');
  config = loadConfig({
    BOT_TOKEN: botApi.token,
    COCOON_DATA_DIR: join(dir, 'data'),
    ...(database === undefined ? {} : { DATABASE_URL: database.url }),
    COCOON_MODEL: tiny.path,
    WORKER_GPU: 'cpu',
    WORKER_THREADS: '1',
    PROXY_CHARGE_THRESHOLD: '1',
    PROXY_PAYOUT_THRESHOLD: '1',
    WORKER_PAYOUT_ADDRESS: 'EQD__________________________________________0vo',
  });
  network = await startNetwork({
    config,
    log,
    ports: { proxy: 0, gateway: 0, workerStatus: null, app: 0, chainRpc: 0 },
    botApiRoot: botApi.apiRoot,
  });
  for (let i = 0; i < 100 && network.worker.link.state !== 'admitted'; i++)
    await new Promise((r) => setTimeout(r, 100));
  expect(network.worker.link.state).toBe('admitted');
}, 60_000);

afterAll(async () => {
  await network?.stop();
  await botApi?.close();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

const question = {
  messages: [{ role: 'user' as const, content: 'Say something about TON.' }],
  max_tokens: 24,
  temperature: 0.8,
  seed: 7,
};

describe('the embedded network, end to end (real proxy, real llama.cpp worker, sealed both ways)', () => {
  it('lists the worker model and answers a sealed chat with a verified receipt', async () => {
    expect((await network.client.models()).map((m) => m.model)).toEqual([model]);
    const pieces: string[] = [];
    const result = await network.client.chat(question, { model, onText: (text) => pieces.push(text) });
    expect(pieces.join('')).toBe(result.text);
    expect(result.usage.completionTokens).toBeGreaterThan(0);
    expect(result.receipt.amount).toBeGreaterThan(0n);
    expect(result.worker.attestation).toMatchObject({ kind: 'dev', secure: false });

    // The sealed path yields exactly what the model yields when called directly with the same settings.
    const direct = await network.worker.engine.model(model).generate(question);
    expect(result.text).toBe(direct.text);
    expect(result.usage).toEqual(direct.usage);
    expect(network.worker.stats.jobsServed).toBeGreaterThanOrEqual(1);
  });

  it('serves the official OpenAI client through the gateway: chat, streaming with usage, and completions', async () => {
    const openai = new OpenAI({ baseURL: `${network.gatewayUrl}/v1`, apiKey: 'unused-on-loopback' });
    expect((await openai.models.list()).data.map((m) => m.id)).toContain('cocoon-tiny-1');

    const completion = await openai.chat.completions.create({ model, ...question });
    expect(completion.choices[0]?.message.role).toBe('assistant');
    const { cocoon } = completion as unknown as {
      cocoon: { attestation: { kind: string }; receipt: { boc: string; signature: string } };
    };
    expect(cocoon.attestation.kind).toBe('dev');
    expect(() => verifyReceipt(cocoon.receipt)).not.toThrow();

    const stream = await openai.chat.completions.create({
      model,
      ...question,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(completion.choices[0]?.message.content);
    expect(usage).toEqual(completion.usage);

    const legacy = await openai.completions.create({
      model,
      prompt: 'Say something about TON.',
      max_tokens: 8,
      temperature: 0.8,
      seed: 7,
    });
    expect(legacy.object).toBe('text_completion');
    expect(legacy.usage?.completion_tokens).toBeGreaterThan(0);

    await expect(
      openai.chat.completions.create({ ...question, model: 'no-such-model' }),
    ).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it("summarizes for the bot through the network, with the receipt's id", async () => {
    const summarizer = new NetworkSummarizer({ client: network.client, model });
    const result = await summarizer.summarize({
      text: 'TON is a blockchain. It is fast. Telegram uses it.',
      language: 'en',
      length: 'short',
    });
    expect(result.receiptId).toMatch(/^[0-9a-f]{64}$/);
    expect(result.usage.promptTokens).toBeGreaterThan(10);
  });
});

describe('settlement on the embedded chain', () => {
  it('charges what the client signed, pays the worker its share, and keeps the rest as commission, to the nanoton', async () => {
    const outbox = network.proxy.settlement;
    if (outbox === undefined) throw new Error('the embedded proxy settles on chain');
    // Let every pending voucher arrive, then settle until nothing is left to send (bounded).
    for (let round = 0; round < 10; round++) {
      await outbox.tick();
      const s = await outbox.summary();
      if (s.charged === s.signed && s.paid === s.earned && s.signed === s.metered) break;
    }
    const summary = await outbox.summary();
    expect(summary.metered).toBeGreaterThan(0n);
    expect(summary.signed).toBe(summary.metered);
    expect(summary.charged).toBe(summary.signed);
    expect(summary.paid).toBe(summary.earned);
    // Root defaults: 20 nanoTON per token, 19 to the worker.
    expect(summary.earned).toBe((summary.metered * 19n) / 20n);
    expect(summary.commission).toBe(summary.charged - summary.paid);
    const metrics = await (await fetch(`${network.proxy.url}/metrics`)).text();
    expect(metrics).toContain('cocoon_proxy_unsettled_nanotons{kind="charge"} 0');
    expect(metrics).toContain('cocoon_proxy_unsettled_nanotons{kind="payout"} 0');
  });
});

describe('the Telegram side of the embedded network', () => {
  it("credits a user's TonConnect top-up from the chain, once, and the Mini App shows it", async () => {
    const userId = 777_001;
    const initData = signInitData(
      {
        auth_date: String(Math.floor(Date.now() / 1000)),
        user: JSON.stringify({ id: userId, first_name: 'Ada' }),
      },
      botApi.token,
    );
    const me = async () => {
      const response = await fetch(`${network.telegram.url}/api/me`, {
        headers: { authorization: `tma ${initData}` },
      });
      expect(response.status).toBe(200);
      return (await response.json()) as { balance: { ton: string } };
    };
    expect((await me()).balance.ton).toBe('0');

    // What TonConnect sends from the user's wallet: 1 TON to the app's Client contract, the user id as reference.
    const appContract = network.chain.open(
      ClientContract.createFromAddress(Address.parse(network.appAccount.contract)),
    );
    await appContract.sendTopUp(network.chain.sender, { value: 1_000_000_000n, reference: BigInt(userId) });
    let balance = '0';
    for (let i = 0; i < 50 && balance === '0'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      balance = (await me()).balance.ton;
    }
    expect(BigInt(balance)).toBeGreaterThan(999_000_000n);
    expect(BigInt(balance)).toBeLessThan(1_000_000_000n);
    // The bot told the user, once.
    await botApi.waitForCall('sendMessage', (call) => Number(call.chat_id) === userId);
    expect(botApi.callsTo('sendMessage').filter((call) => Number(call.chat_id) === userId)).toHaveLength(1);
  });

  it('summarizes a pasted text in the bot through the network, and the Mini App history holds its verifiable receipt', async () => {
    const userId = 777_001;
    const initData = signInitData(
      {
        auth_date: String(Math.floor(Date.now() / 1000)),
        user: JSON.stringify({ id: userId, first_name: 'Ada' }),
      },
      botApi.token,
    );
    // Short enough for the tiny test model's 512-token context, long enough for the bot to summarize.
    const text = Array.from(
      { length: 4 },
      (_, i) => `Sentence ${i + 1} says that TON settles AI jobs in batches.`,
    ).join(' ');
    botApi.deliver(botApi.privateText(botApi.user(userId, 'Ada'), text));
    const history = async () => {
      const response = await fetch(`${network.telegram.url}/api/history`, {
        headers: { authorization: `tma ${initData}` },
      });
      return (await response.json()) as {
        jobs: { receipt: { boc: string; signature: string }; attestation: unknown; workerId: string }[];
      };
    };
    let jobs = (await history()).jobs;
    for (let i = 0; i < 100 && jobs.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      jobs = (await history()).jobs;
    }
    expect(jobs).toHaveLength(1);
    const [job] = jobs;
    if (job === undefined) throw new Error('no job in the history');
    const receipt = verifyReceipt(job.receipt);
    expect(receipt.worker).toBe((job.attestation as { signPublicKey: string }).signPublicKey);
    // The history holds no content: neither the text nor the summary.
    expect(JSON.stringify(jobs)).not.toContain('Sentence 1 says');
  });
});

describe('npm start status', () => {
  it('names the chain, the Root contract, the database, the model, the gateway and the insecure dev attestation', async () => {
    const rows = Object.fromEntries((await statusRows(network, config)).map((r) => [r.component, r.detail]));
    expect(rows.chain).toMatch(/sandbox/);
    expect(rows['Root contract']).toBe(network.root.address.toString());
    expect(rows.database).toBe(
      database === undefined ? `PGlite in ${config.COCOON_DATA_DIR}` : 'Postgres (DATABASE_URL)',
    );
    expect(rows.worker).toMatch(/admitted.*INSECURE/);
    expect(rows.model).toContain(model.slice(0, 16));
    expect(rows['Telegram bot']).toMatch(/^running/);
    expect(rows['Mini App']).toContain(network.telegram.url);
  });
});
