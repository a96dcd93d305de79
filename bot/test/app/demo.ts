// Demo data for the Mini App API: a dev worker with a real (dev) attestation, jobs with real signed receipts
// (one of them tampered), a channel, and a summarizer over fixed articles. Used by the API and browser tests
// and by `npm run dev:api -w @cocoon/miniapp`.
import {
  DevAttestor,
  generateSigningKeyPair,
  type Receipt,
  randomBytes,
  receiptToCell,
  sha256,
  signReceipt,
  toBase64,
  toHex,
  utf8,
} from '@cocoon/shared';
import type { HistoryJob } from '@cocoon/shared/protocol/app-api';
import { type AppServerOptions, InMemoryAppStore, ReaderError } from '../../src/app/index.js';

export const DEMO_USER = { id: 777_000_1, first_name: 'Ada', username: 'ada' };
export const DEMO_CHANNEL_ID = -100_123_456_789;
export const DEMO_CONTRACT = 'EQBvW8Z5huBkMJYdnfAEM5JqTNkuWX3diqYENkWsIL0XggGG';
export const DEMO_MODEL = toHex(sha256(utf8('demo model: qwen2.5-0.5b-instruct-q4_k_m.gguf')));
export const DEMO_ARTICLE_TEXT =
  'Confidential computing keeps data encrypted while it is processed.\n\nA trusted execution environment proves what code runs through remote attestation, so clients can check a machine before they send it anything.';

export interface Demo {
  store: InMemoryAppStore;
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

export async function createDemo(now: number): Promise<Demo> {
  const store = new InMemoryAppStore({ now: () => now, freeLimit: 5 });
  const workerKey = generateSigningKeyPair();
  const bundle = await new DevAttestor().attest({
    hpkePublicKey: hex32(),
    signPublicKey: toHex(workerKey.publicKey),
    models: [DEMO_MODEL],
    notAfter: now + 7 * 86_400,
  });

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
  const jobOf = (
    receipt: Receipt,
    signed: HistoryJob['receipt'],
    source: HistoryJob['source'],
  ): HistoryJob => ({
    jobId: receipt.jobId,
    createdAt: receipt.time,
    source,
    promptTokens: receipt.promptTokens,
    completionTokens: receipt.completionTokens,
    cost: receipt.amount,
    paidWith: 'free',
    workerId: 'worker-dev-1',
    receipt: signed,
    attestation: bundle,
  });

  const valid = receiptAt(now - 3600, 812, 96);
  const validJob: HistoryJob = {
    ...jobOf(valid, signReceipt(valid, workerKey.secretKey), {
      kind: 'link',
      url: 'https://example.org/confidential-computing',
      title: 'Confidential computing, explained',
    }),
    settlement: { hash: hex32(), lt: '48210000001' },
  };
  // The tampered receipt claims a lower amount under the signature of the original cell.
  const original = receiptAt(now - 7200, 420, 64);
  const tamperedCell = receiptToCell({ ...original, amount: 1n });
  const tamperedJob = jobOf(
    { ...original, amount: 1n },
    { boc: toBase64(tamperedCell.toBoc()), signature: signReceipt(original, workerKey.secretKey).signature },
    { kind: 'channel-post', chatId: DEMO_CHANNEL_ID, messageId: 42, channelTitle: 'TON Research' },
  );
  await store.recordJob(DEMO_USER.id, tamperedJob);
  await store.recordJob(DEMO_USER.id, validJob);
  await store.recordCredit({
    lt: '48200000001',
    hash: hex32(),
    userId: DEMO_USER.id,
    queryId: 1n,
    amount: 2_500_000_000n,
    at: now - 86_000,
  });
  await store.addStars(DEMO_USER.id, 150);
  await store.upsertChannel({
    chatId: DEMO_CHANNEL_ID,
    title: 'TON Research',
    active: true,
    botCanEdit: true,
    settings: {
      enabled: true,
      minPostLength: 500,
      language: 'auto',
      length: 'short',
      payer: 'sponsor',
      postAsComment: false,
      sponsorBudget: 5_000_000_000n,
    },
    sponsorSpent: 120_000_000n,
  });

  const admins = new Map([[DEMO_CHANNEL_ID, new Set([DEMO_USER.id])]]);
  const invoices: Demo['invoices'] = [];
  return {
    store,
    validJobId: validJob.jobId,
    tamperedJobId: tamperedJob.jobId,
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
            models: [
              {
                model: DEMO_MODEL,
                name: 'Qwen2.5 0.5B Instruct',
                pricePerToken: 1000n,
                priceCoefficient: 10_000,
                promptMultiplier: 10_000,
                completionMultiplier: 20_000,
                contextSize: 8192,
              },
            ],
            load: { activeJobs: 1, capacity: 4 },
          },
        ],
        models: [{ model: DEMO_MODEL, name: 'Qwen2.5 0.5B Instruct', workers: 1, minPricePerToken: 1000n }],
      }),
      policy: async () => ({ allowDev: true, imageHashes: [], models: [DEMO_MODEL] }),
    },
  };
}
