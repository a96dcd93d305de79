import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AttestationBundle } from '../../src/attestation/bundle.js';
import { DevAttestor } from '../../src/attestation/dev.js';
import { AttestationPolicy } from '../../src/attestation/verify.js';
import { toHex } from '../../src/bytes.js';
import { VoucherMessage, VoucherReply } from '../../src/client/voucher.js';
import { generateWorkerKeyPair } from '../../src/crypto/hpke.js';
import { ChunkSealer, sealJob } from '../../src/crypto/seal.js';
import {
  ChannelUpdateRequest,
  HistoryQuery,
  ReaderRequest,
  StarsInvoiceRequest,
  TopUpRequest,
} from '../../src/protocol/app-api.js';
import { AnswerEvent, ChatRequest } from '../../src/protocol/chat.js';
import { JobHeader, SealedChunk, SealedJob } from '../../src/protocol/job.js';
import {
  ApiError,
  JobStreamEvent,
  ModelOffer,
  ModelsResponse,
  ProxyToWorker,
  WorkersResponse,
  WorkerToProxy,
} from '../../src/protocol/messages.js';
import { signOffers, signPayoutAddress } from '../../src/protocol/worker-statements.js';
import { Receipt, SignedReceipt, signReceipt } from '../../src/receipt.js';
import { generateSigningKeyPair } from '../../src/signing.js';
import { runs, timeoutFor } from './support.js';

// Valid wire values of every message that crosses a trust boundary; the properties mutate them.
const hex = (byte: string, length: number) => byte.repeat(length);
const header: JobHeader = {
  v: 1,
  jobId: hex('1a', 16),
  model: hex('2b', 32),
  client: hex('3c', 32),
  maxTokens: 64,
  maxCost: 123_456_789n,
  expiresAt: 1_800_000_000,
};
const worker = await generateWorkerKeyPair();
const { sealed, jobKey } = await sealJob(header, new TextEncoder().encode('{"messages":[]}'), [
  worker.publicKey,
]);
const chunk = await new ChunkSealer(jobKey, header.jobId).seal(new Uint8Array(3), { final: true });
const workerKeys = generateSigningKeyPair();
const receipt: Receipt = {
  jobId: header.jobId,
  client: header.client,
  model: header.model,
  promptTokens: 10,
  completionTokens: 20,
  pricePerToken: 20n,
  amount: 600n,
  requestHash: hex('4d', 32),
  responseHash: hex('5e', 32),
  worker: toHex(workerKeys.publicKey),
  time: 1_800_000_000,
};
const signedReceipt = signReceipt(receipt, workerKeys.secretKey);
const bundle = await new DevAttestor().attest({
  hpkePublicKey: toHex(worker.publicKey),
  signPublicKey: receipt.worker,
  models: [header.model],
  notAfter: 1_800_003_600,
});
const offer = {
  model: header.model,
  name: 'tiny',
  pricePerToken: '20',
  priceCoefficient: 10_000,
  promptMultiplier: 10_000,
  completionMultiplier: 20_000,
  contextSize: 4096,
};
const load = { activeJobs: 1, capacity: 4 };
const payoutAddress = `0:${hex('6f', 32)}`;
const payoutSignature = signPayoutAddress(payoutAddress, workerKeys.secretKey);
const offersSignature = signOffers([ModelOffer.parse(offer)], workerKeys.secretKey);
const wireBundle = z.encode(AttestationBundle, bundle);
const wireJob = z.encode(SealedJob, sealed);

interface Boundary {
  name: string;
  schema: z.ZodType;
  examples: unknown[];
  /** Whether parsed values encode back to the wire (schemas without one-way transforms or coercion). */
  encodes: boolean;
}

const BOUNDARIES: Boundary[] = [
  { name: 'JobHeader', schema: JobHeader, examples: [z.encode(JobHeader, header)], encodes: true },
  { name: 'SealedJob', schema: SealedJob, examples: [wireJob], encodes: true },
  { name: 'SealedChunk', schema: SealedChunk, examples: [chunk], encodes: true },
  {
    name: 'ChatRequest',
    schema: ChatRequest,
    examples: [
      {
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hi' },
        ],
        max_tokens: 5,
        temperature: 0.5,
        top_p: 0.9,
        top_k: 40,
        seed: 7,
        stop: ['\n\n'],
        response_format: { type: 'json_schema', json_schema: { schema: { type: 'object' } } },
      },
    ],
    encodes: false,
  },
  {
    name: 'AnswerEvent',
    schema: AnswerEvent,
    examples: [
      { type: 'text', text: 'hello' },
      { type: 'end', finishReason: 'stop', usage: { promptTokens: 1, completionTokens: 2 } },
      { type: 'error', code: 'x', message: 'y' },
    ],
    encodes: true,
  },
  {
    name: 'WorkerToProxy',
    schema: WorkerToProxy,
    examples: [
      {
        type: 'hello',
        v: 1,
        bundle: wireBundle,
        models: [offer],
        payoutAddress,
        payoutSignature,
        offersSignature,
        load,
      },
      { type: 'heartbeat', load },
      { type: 'rotated', bundle: wireBundle, payoutSignature, offersSignature },
      { type: 'chunk', chunk },
      { type: 'receipt', jobId: header.jobId, receipt: signedReceipt },
      { type: 'refused', jobId: header.jobId, code: 'busy' },
      { type: 'draining' },
    ],
    encodes: true,
  },
  {
    name: 'ProxyToWorker',
    schema: ProxyToWorker,
    examples: [
      { type: 'welcome', workerId: 'w-1' },
      { type: 'rejected', reason: 'no' },
      { type: 'job', job: wireJob },
      { type: 'cancel', jobId: header.jobId },
    ],
    encodes: true,
  },
  {
    name: 'JobStreamEvent',
    schema: JobStreamEvent,
    examples: [
      { type: 'accepted', jobId: header.jobId, workerId: 'w-1' },
      { type: 'chunk', chunk },
      { type: 'receipt', receipt: signedReceipt },
      { type: 'error', code: 'no_worker', message: 'none' },
    ],
    encodes: true,
  },
  {
    name: 'WorkersResponse',
    schema: WorkersResponse,
    examples: [
      { workers: [{ workerId: 'w-1', bundle: wireBundle, models: [offer], offersSignature, load }] },
    ],
    encodes: true,
  },
  {
    name: 'ModelsResponse',
    schema: ModelsResponse,
    examples: [{ models: [{ model: header.model, name: 'tiny', workers: 2, minPricePerToken: '20' }] }],
    encodes: true,
  },
  {
    name: 'ApiError',
    schema: ApiError,
    examples: [{ error: { code: 'x', message: 'y' } }],
    encodes: true,
  },
  { name: 'SignedReceipt', schema: SignedReceipt, examples: [signedReceipt], encodes: true },
  { name: 'Receipt', schema: Receipt, examples: [z.encode(Receipt, receipt)], encodes: true },
  { name: 'AttestationBundle', schema: AttestationBundle, examples: [wireBundle], encodes: true },
  {
    name: 'AttestationPolicy',
    schema: AttestationPolicy,
    examples: [{ allowDev: false, imageHashes: [hex('70', 32)], models: [header.model] }],
    encodes: true,
  },
  {
    name: 'VoucherMessage',
    schema: VoucherMessage,
    examples: [
      {
        contract: `0:${hex('81', 32)}`,
        owner: `0:${hex('92', 32)}`,
        total: '1000',
        queryId: '3',
        signature: hex('a3', 64),
      },
    ],
    encodes: true,
  },
  { name: 'VoucherReply', schema: VoucherReply, examples: [{ total: '1', metered: '2' }], encodes: true },
  { name: 'TopUpRequest', schema: TopUpRequest, examples: [{ amount: '100000000' }], encodes: true },
  {
    name: 'ReaderRequest',
    schema: ReaderRequest,
    examples: [{ url: 'https://example.com/a?b=c', length: 'short' }],
    encodes: true,
  },
  {
    name: 'ChannelUpdateRequest',
    schema: ChannelUpdateRequest,
    examples: [{ enabled: true, language: 'en', sponsorBudget: '5' }],
    encodes: true,
  },
  { name: 'HistoryQuery', schema: HistoryQuery, examples: [{ limit: '5', before: '100' }], encodes: false },
  { name: 'StarsInvoiceRequest', schema: StarsInvoiceRequest, examples: [{ stars: 50 }], encodes: true },
];

type Json = unknown;
type JsonEdit = { op: 'replace' | 'delete' | 'add'; at: number; key: string; value: Json };

const editArb: fc.Arbitrary<JsonEdit> = fc.record({
  op: fc.constantFrom('replace' as const, 'delete' as const, 'add' as const),
  at: fc.nat(),
  key: fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.constantFrom('type', 'v', 'kind', '__proto__', 'constructor'),
  ),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom(
      '',
      '0',
      '-1',
      '1e400',
      'NaN',
      hex('ff', 32),
      hex('FF', 32),
      'AAAA====',
      4294967296,
      -0,
      1.5,
    ),
  ),
});

/** Every object and array inside a JSON value, with the value itself first. */
function containers(value: Json, out: (Record<string, Json> | Json[])[] = []) {
  if (value !== null && typeof value === 'object') {
    out.push(value as Record<string, Json> | Json[]);
    for (const child of Object.values(value)) containers(child, out);
  }
  return out;
}

function applyEdits(example: Json, edits: JsonEdit[]): Json {
  let value = structuredClone(example);
  for (const edit of edits) {
    const places = containers(value);
    const place = places[edit.at % Math.max(1, places.length)];
    if (place === undefined) {
      value = edit.value;
      continue;
    }
    const keys = Object.keys(place);
    const key = edit.op === 'add' || keys.length === 0 ? edit.key : (keys[edit.at % keys.length] as string);
    if (Array.isArray(place)) {
      const index = Number.parseInt(key, 10) % (place.length + 1) || 0;
      if (edit.op === 'delete') place.splice(index, 1);
      else place[index] = edit.value;
    } else if (edit.op === 'delete') {
      delete place[key];
    } else {
      Object.defineProperty(place, key, {
        value: edit.value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return value;
}

/** Parses; anything thrown other than a ZodError fails the property. */
function parseOrZodError(schema: z.ZodType, value: unknown): { ok: true; data: unknown } | { ok: false } {
  try {
    return { ok: true, data: schema.parse(value) };
  } catch (error) {
    if (!(error instanceof z.ZodError)) throw error;
    return { ok: false };
  }
}

const wire = (schema: z.ZodType, value: unknown) => JSON.stringify(z.encode(schema, value as never));

describe('wire schemas at trust boundaries', () => {
  it('accept their valid examples', () => {
    for (const { name, schema, examples } of BOUNDARIES) {
      for (const example of examples)
        expect(parseOrZodError(schema, example), name).toMatchObject({ ok: true });
    }
  });

  describe.each(BOUNDARIES)('$name', ({ schema, examples, encodes }) => {
    it(
      'random JSON, and valid messages with random edits, parse or throw a ZodError; what parses encodes back',
      () => {
        const input = fc.oneof(
          fc.jsonValue(),
          fc
            .tuple(fc.nat(), fc.array(editArb, { minLength: 1, maxLength: 3 }))
            .map(([pick, edits]) => applyEdits(examples[pick % examples.length], edits)),
        );
        fc.assert(
          fc.property(input, (candidate) => {
            const parsed = parseOrZodError(schema, candidate);
            if (!parsed.ok || !encodes) return;
            const text = wire(schema, parsed.data);
            const again = parseOrZodError(schema, JSON.parse(text));
            expect(again.ok).toBe(true);
            expect(wire(schema, (again as { data: unknown }).data)).toBe(text);
          }),
          runs(100),
        );
      },
      timeoutFor(2),
    );
  });
});
