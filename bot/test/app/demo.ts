// Demo data for the Mini App API, written to a bot store as the bot and the chain watcher would: a dev
// worker with a real (dev) attestation, jobs with real signed receipts (one of them tampered), a TON top-up,
// a Stars payment, a sponsored channel, and a summarizer over fixed articles. Used by the API and browser
// tests and by `npm run dev:api -w @cocoon/miniapp`.

import type { SignedReceipt } from '@cocoon/shared';
import {
  DevAttestor,
  generateSigningKeyPair,
  type ModelOffer,
  type Receipt,
  randomBytes,
  receiptToCell,
  sha256,
  signOffers,
  signReceipt,
  toBase64,
  toHex,
  utf8,
} from '@cocoon/shared';
import { type AppServerOptions, LedgerAppStore, ReaderError } from '../../src/app/index.js';
import { InMemoryBotStore } from '../../src/store/memory.js';
import type { BotStore, JobRecord, SummarySource } from '../../src/store/types.js';

export const DEMO_USER = { id: 777_000_1, first_name: 'Ada', username: 'ada' };
export const DEMO_CHANNEL_ID = -100_123_456_789;
export const DEMO_CONTRACT = 'EQBvW8Z5huBkMJYdnfAEM5JqTNkuWX3diqYENkWsIL0XggGG';
export const DEMO_MODEL = toHex(sha256(utf8('demo model: qwen2.5-0.5b-instruct-q4_k_m.gguf')));
export const DEMO_ARTICLE_TEXT =
  'Confidential computing keeps data encrypted while it is processed.\n\nA trusted execution environment proves what code runs through remote attestation, so clients can check a machine before they send it anything.';

export const DEMO_NANOTONS_PER_STAR = 4_000_000n;

export interface Demo {
  store: LedgerAppStore;
  botStore: BotStore;
  options: Omit<AppServerOptions, 'botToken' | 'publicUrl'>;
  /** Job ids of the history fixtures. */
  validJobId: string;
  tamperedJobId: string;
  /** Stars invoices asked for, as the injected Bot API saw them. */
  invoices: { userId: number; stars: number }[];
  /** Channel admins as `getChatMember` answers them. */
  admins: Map<number, Set<number>>;
}

const hex32 = () => toHex(randomBytes(32));

/** Writes the demo data at `now` (unix seconds) into `botStore` (an empty one). */
export async function createDemo(now: number, botStore: BotStore = new InMemoryBotStore()): Promise<Demo> {
  const clock = { now: () => now * 1000 };
  const store = new LedgerAppStore(botStore, {
    freeDailySummaries: 5,
    nanotonsPerStar: DEMO_NANOTONS_PER_STAR,
    clock,
  });
  const workerKey = generateSigningKeyPair();
  const bundle = await new DevAttestor().attest({
    hpkePublicKey: hex32(),
    signPublicKey: toHex(workerKey.publicKey),
    models: [DEMO_MODEL],
    notAfter: now + 7 * 86_400,
  });

  const demoOffer: ModelOffer = {
    model: DEMO_MODEL,
    name: 'Qwen2.5 0.5B Instruct',
    pricePerToken: 1000n,
    priceCoefficient: 10_000,
    promptMultiplier: 10_000,
    completionMultiplier: 20_000,
    contextSize: 8192,
  };

  const receiptAt = (time: number, promptTokens: number, completionTokens: number): Receipt => ({
    jobId: toHex(randomBytes(16)),
    client: hex32(),
    model: DEMO_MODEL,
    promptTokens,
    completionTokens,
    pricePerToken: 1000n,
    amount: BigInt(promptTokens + completionTokens) * 1000n,
    requestHash: hex32(),
    responseHash: hex32(),
    worker: toHex(workerKey.publicKey),
    time,
  });
  const jobOf = (receipt: Receipt, signed: SignedReceipt, source: SummarySource): JobRecord => ({
    summaryId: toHex(randomBytes(8)),
    userId: DEMO_USER.id,
    sourceKind: source.kind,
    promptTokens: receipt.promptTokens,
    completionTokens: receipt.completionTokens,
    cost: receipt.amount,
    paidBy: 'free',
    account: DEMO_USER.id,
    workerId: 'worker-dev-1',
    attestationKind: bundle.kind,
    source,
    proof: { jobId: receipt.jobId, receipt: signed, attestation: bundle },
    at: receipt.time * 1000,
  });

  const valid = receiptAt(now - 3600, 812, 96);
  const validJob = jobOf(valid, signReceipt(valid, workerKey.secretKey), {
    kind: 'link',
    url: 'https://example.org/confidential-computing',
  });
  if (validJob.proof !== undefined) validJob.proof.settlement = { hash: hex32(), lt: '48210000001' };
  // The tampered receipt claims a lower amount under the signature of the original cell.
  const original = receiptAt(now - 7200, 420, 64);
  const tamperedCell = receiptToCell({ ...original, amount: 1n });
  const tamperedJob = jobOf(
    { ...original, amount: 1n },
    { boc: toBase64(tamperedCell.toBoc()), signature: signReceipt(original, workerKey.secretKey).signature },
    { kind: 'channel-post', chatId: DEMO_CHANNEL_ID, messageId: 42 },
  );
  // Both jobs used the free quota of the day.
  const today = new Date(now * 1000).toISOString().slice(0, 10);
  for (const job of [tamperedJob, validJob]) {
    await botStore.takeFreeSummary(DEMO_USER.id, today, 5);
    await botStore.recordJob(job);
  }
  await store.recordCredit({
    lt: '48200000001',
    hash: hex32(),
    userId: DEMO_USER.id,
    queryId: 1n,
    amount: 2_500_000_000n,
  });
  await botStore.addLedgerEntry({
    key: 'stars:demo-charge-1',
    account: DEMO_USER.id,
    amount: 150n * DEMO_NANOTONS_PER_STAR,
    kind: 'stars',
    stars: 150,
    at: (now - 600) * 1000,
  });
  await botStore.saveChannel({
    chatId: DEMO_CHANNEL_ID,
    title: 'TON Research',
    enabled: true,
    minPostLength: 500,
    language: 'auto',
    length: 'short',
    payer: 'sponsor',
    postAsComment: false,
    canEditMessages: true,
    active: true,
    sponsorBudget: 5_000_000_000n,
  });
  // A reader's summary the channel's sponsor account paid this month.
  await botStore.addLedgerEntry({
    key: `job:demo-sponsored:${DEMO_CHANNEL_ID}`,
    account: DEMO_CHANNEL_ID,
    amount: -120_000_000n,
    kind: 'job',
    at: now * 1000,
  });

  const admins = new Map([[DEMO_CHANNEL_ID, new Set([DEMO_USER.id])]]);
  const invoices: Demo['invoices'] = [];
  return {
    store,
    botStore,
    validJobId: valid.jobId,
    tamperedJobId: original.jobId,
    invoices,
    admins,
    options: {
      store,
      clientContractAddress: DEMO_CONTRACT,
      getChatMember: async (chatId, userId) => {
        const chatAdmins = admins.get(chatId);
        if (chatAdmins === undefined) throw new Error('Bad Request: chat not found');
        return { status: chatAdmins.has(userId) ? 'administrator' : 'member' };
      },
      createStarsInvoice: async ({ userId, stars }) => {
        invoices.push({ userId, stars });
        return `https://t.me/$demo-invoice-${stars}`;
      },
      reader: async ({ url }) => {
        if (new URL(url).hostname.endsWith('.invalid'))
          throw new ReaderError('bad_link', 'that page could not be read');
        return {
          summary: '• Confidential computing protects data in use.\n• Attestation proves what code runs.',
          article: {
            url,
            title: 'Confidential computing, explained',
            siteName: 'Example',
            text: DEMO_ARTICLE_TEXT,
          },
          promptTokens: 120,
          completionTokens: 24,
          paidWith: 'free',
        };
      },
      network: async () => ({
        workers: [
          {
            workerId: 'worker-dev-1',
            bundle,
            models: [demoOffer],
            offersSignature: signOffers([demoOffer], workerKey.secretKey),
            load: { activeJobs: 1, capacity: 4 },
          },
        ],
        models: [{ model: DEMO_MODEL, name: 'Qwen2.5 0.5B Instruct', workers: 1, minPricePerToken: 1000n }],
      }),
      policy: async () => ({ allowDev: true, imageHashes: [], models: [DEMO_MODEL] }),
    },
  };
}
