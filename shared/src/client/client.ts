import { z } from 'zod';
import type { DcapCollateral } from '../attestation/bundle.js';
import type { FreshCollateral } from '../attestation/collateral.js';
import type { AttestationPolicy, VerifiedAttestation } from '../attestation/verify.js';
import { fromHex, fromUtf8, randomBytes, toHex, utf8 } from '../bytes.js';
import { type Clock, systemClock, unixSeconds } from '../clock.js';
import { SealError } from '../crypto/errors.js';
import { ChunkOpener, requestHash, sealJob } from '../crypto/seal.js';
import { billedAmount, highestTokenPrice, jobCost, maxAmount, minAmount, type Usage } from '../pricing.js';
import { AnswerEvent, ChatRequest, type FinishReason } from '../protocol/chat.js';
import { signRequest } from '../protocol/client-auth.js';
import { type JobHeader, SealedJob } from '../protocol/job.js';
import {
  ApiError,
  JobStreamEvent,
  type ModelOffer,
  ModelsResponse,
  type WorkerListing,
  WorkersResponse,
} from '../protocol/messages.js';
import { padJson, REQUEST_PADDING_CEILING, REQUEST_PADDING_FLOOR } from '../protocol/padding.js';
import { PROTOCOL_VERSION } from '../protocol/primitives.js';
import { type Receipt, type SignedReceipt, verifyReceipt } from '../receipt.js';
import { type SigningKeyPair, signingPublicKey } from '../signing.js';
import { ClientError } from './errors.js';
import { readNdjson } from './ndjson.js';
import { TrustCache } from './trust-cache.js';
import {
  MemoryVoucherStore,
  VoucherError,
  VoucherHeld,
  VoucherMessage,
  VoucherReply,
  VoucherSigner,
  type VoucherStore,
} from './voucher.js';

const DEFAULT_POLICY_TTL_MS = 30_000;

export interface CocoonClientOptions {
  /** Base URL of the proxy, e.g. http://127.0.0.1:8480. */
  proxyUrl: string;
  /** The client account's Ed25519 key: it signs requests (and, with the contracts, cumulative totals). */
  clientKey: Pick<SigningKeyPair, 'secretKey'>;
  /** What the client trusts; a function so it can follow the Root contract. */
  policy: z.input<typeof AttestationPolicy> | (() => Promise<z.input<typeof AttestationPolicy>>);
  /**
   * How long one reading of a `policy` function is trusted, and the attestations verified under it reused
   * (30 s by default; 0 reads and verifies for every job).
   */
  policyTtlMs?: number;
  /** How many verified workers the job key is sealed to, so the proxy can fail over without re-sealing. */
  candidates?: number;
  /** Seconds a job stays valid for. */
  jobTtlSeconds?: number;
  /**
   * The most this client pays per token of either kind, in nanotons: a worker whose offer asks more
   * (pricePerToken × its prompt or completion multiplier ÷ 10,000) is not used. Unset: any price.
   */
  maxPricePerToken?: bigint;
  /**
   * Verify TDX workers with Intel collateral this client fetches itself (`FreshCollateral`, from a PCCS)
   * instead of the collateral their bundles carry, which the proxy relays and could keep stale; the
   * bundle's is the fallback when the service cannot be reached. Unset: the bundle's.
   */
  freshCollateral?: FreshCollateral;
  fetch?: typeof fetch;
  clock?: Clock;
  /**
   * Pay by vouchers: after each verified receipt the client signs the new cumulative total for its
   * Client contract (one per client key, owner wallet and proxy) and sends it to the proxy.
   */
  vouchers?: {
    /** The wallet that owns the Client contract. */
    owner: string;
    /** The Client contract's address, derived from (owner, client key, the proxy's contract). */
    contract: string;
    /** Where the signed total survives restarts; in memory by default. */
    store?: VoucherStore;
  };
}

export interface VerifiedWorker {
  workerId: string;
  attestation: VerifiedAttestation;
  /** The bundle the attestation was verified from, so others (a user's browser) can verify it again. */
  bundle: unknown;
  offer: ModelOffer;
  load: { activeJobs: number; capacity: number };
}

export interface ChatOptions {
  /** SHA-256 of the model file. */
  model: string;
  /** The most the client pays for this job; by default, the dearest candidate's price for the longest answer. */
  maxCost?: bigint;
  signal?: AbortSignal;
  /** Each decrypted piece of the answer, as it arrives. */
  onText?: (text: string) => void;
}

export interface ChatResult {
  text: string;
  finishReason: FinishReason;
  usage: Usage;
  /** The receipt, checked against what was sent and received. */
  receipt: Receipt;
  signedReceipt: SignedReceipt;
  worker: VerifiedWorker;
  /** The voucher signed for this receipt (with vouchers on): the new cumulative total. */
  voucher?: VoucherMessage;
}

const DEFAULT_MAX_TOKENS = 512;
/** Chat templates add tokens around the messages; a byte-fallback tokenizer never uses more tokens than bytes. */
const TEMPLATE_TOKEN_ALLOWANCE = 256;

/**
 * The client SDK: everything a client must do itself so that nobody in between can read its jobs
 * (verify attestations, seal, open) or overcharge it (check every receipt).
 */
export class CocoonClient {
  readonly account: string;
  private readonly fetch: typeof fetch;
  private readonly clock: Clock;
  private readonly trust: TrustCache;
  private readonly vouchers: VoucherSigner | undefined;
  /** Whether the proxy acknowledged the latest voucher; if not, it is sent again before the next job. */
  private voucherDelivered = false;

  constructor(private readonly options: CocoonClientOptions) {
    this.account = toHex(signingPublicKey(options.clientKey.secretKey));
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.clock = options.clock ?? systemClock;
    const { policy } = options;
    this.trust = new TrustCache(
      typeof policy === 'function' ? policy : async () => policy,
      options.policyTtlMs ?? DEFAULT_POLICY_TTL_MS,
      this.clock,
      options.freshCollateral,
    );
    const v = options.vouchers;
    this.vouchers =
      v === undefined
        ? undefined
        : new VoucherSigner(
            options.clientKey.secretKey,
            v.owner,
            v.contract,
            v.store ?? new MemoryVoucherStore(),
          );
  }

  /**
   * The Intel collateral this client verifies `bundle` with when it fetches its own (`freshCollateral`):
   * undefined for a dev bundle, without `freshCollateral`, or while the collateral service cannot be reached.
   */
  collateralFor(bundle: unknown): Promise<DcapCollateral | undefined> {
    return this.trust.collateralFor(bundle);
  }

  /**
   * Sends the latest voucher to the proxy (a zero total before the first job: it tells the proxy which
   * Client contract holds this client's deposit). `chat` does this itself when the proxy lacks it.
   */
  async sendVoucher(): Promise<VoucherReply> {
    if (this.vouchers === undefined) throw new VoucherError('vouchers are not configured for this client');
    // A total this key signed before and the proxy kept is taken over (the local store may have been lost).
    const held = VoucherHeld.parse(await (await this.send('GET', '/v1/vouchers', '')).json());
    if (held.voucher !== null) await this.vouchers.adopt(held.voucher);
    return this.deliver(await this.vouchers.latest());
  }

  private async deliver(voucher: VoucherMessage): Promise<VoucherReply> {
    this.voucherDelivered = false;
    const response = await this.send(
      'POST',
      '/v1/vouchers',
      JSON.stringify(z.encode(VoucherMessage, voucher)),
    );
    const reply = VoucherReply.parse(await response.json());
    this.voucherDelivered = true;
    return reply;
  }

  async models(): Promise<z.output<typeof ModelsResponse>['models']> {
    return (await this.get('/v1/models', ModelsResponse)).models;
  }

  /** The proxy's listings for a model, as they come: for a client that verifies them elsewhere (a browser). */
  async listings(model: string): Promise<WorkerListing[]> {
    return (await this.get(`/v1/workers?model=${encodeURIComponent(model)}`, WorkersResponse)).workers;
  }

  /** Workers for a model, each verified here against the client's policy; the refused ones with their reason. */
  async workers(
    model: string,
  ): Promise<{ verified: VerifiedWorker[]; refused: { workerId: string; reason: string }[] }> {
    const workers = await this.listings(model);
    const verified: VerifiedWorker[] = [];
    const refused: { workerId: string; reason: string }[] = [];
    await Promise.all(
      workers.map(async (listing) => {
        const offer = listing.models.find((m) => m.model === model);
        if (offer === undefined) return;
        try {
          const attestation = await this.trust.verify(listing.bundle);
          if (!attestation.models.includes(model))
            throw new Error('its attestation does not cover this model');
          if (!this.trust.offersSigned(listing.models, listing.offersSignature, attestation.signPublicKey))
            throw new Error('its offers are not signed by its attested key');
          verified.push({
            workerId: listing.workerId,
            attestation,
            bundle: listing.bundle,
            offer,
            load: listing.load,
          });
        } catch (error) {
          refused.push({ workerId: listing.workerId, reason: (error as Error).message });
        }
      }),
    );
    verified.sort(
      (a, b) => loadRatio(a) - loadRatio(b) || Number(a.offer.pricePerToken - b.offer.pricePerToken),
    );
    return { verified, refused };
  }

  async chat(input: z.input<typeof ChatRequest>, options: ChatOptions): Promise<ChatResult> {
    const request = ChatRequest.parse(input);
    const maxTokens = request.max_tokens ?? DEFAULT_MAX_TOKENS;
    const { verified, refused } = await this.workers(options.model);
    if (verified.length === 0) {
      const reasons = refused.map((r) => `${r.workerId}: ${r.reason}`).join('; ');
      throw new ClientError(
        'no_verified_worker',
        `no worker for model ${options.model} passed attestation${reasons ? ` (${reasons})` : ''}`,
      );
    }
    const { maxPricePerToken } = this.options;
    const affordable =
      maxPricePerToken === undefined
        ? verified
        : verified.filter((worker) => highestTokenPrice(worker.offer) <= maxPricePerToken);
    if (affordable.length === 0) {
      const cheapest = verified.map((worker) => highestTokenPrice(worker.offer)).reduce(minAmount);
      throw new ClientError(
        'no_affordable_worker',
        `no worker for model ${options.model} within ${maxPricePerToken} nanotons per token (the cheapest asks ${cheapest})`,
      );
    }
    const candidates = affordable.slice(0, this.options.candidates ?? 3);
    const body = utf8(JSON.stringify({ ...request, max_tokens: maxTokens }));
    const promptTokenBound = body.length + TEMPLATE_TOKEN_ALLOWANCE;
    const maxCost =
      options.maxCost ??
      candidates.reduce(
        (most, c) =>
          maxAmount(most, jobCost({ promptTokens: promptTokenBound, completionTokens: maxTokens }, c.offer)),
        0n,
      );
    const header: JobHeader = {
      v: PROTOCOL_VERSION,
      jobId: toHex(randomBytes(16)),
      model: options.model,
      client: this.account,
      maxTokens,
      maxCost,
      expiresAt: unixSeconds(this.clock) + (this.options.jobTtlSeconds ?? 300),
    };
    const { sealed, jobKey } = await sealJob(
      header,
      padJson(body, REQUEST_PADDING_FLOOR, REQUEST_PADDING_CEILING),
      candidates.map((c) => fromHex(c.attestation.hpkePublicKey)),
    );
    if (this.vouchers !== undefined && !this.voucherDelivered) await this.sendVoucher();
    const response = await this.send(
      'POST',
      '/v1/jobs',
      JSON.stringify(z.encode(SealedJob, sealed)),
      options.signal,
    );

    let worker: VerifiedWorker | undefined;
    let opener: ChunkOpener | undefined;
    let text = '';
    let end: Extract<AnswerEvent, { type: 'end' }> | undefined;
    let signedReceipt: SignedReceipt | undefined;
    if (response.body === null) throw new ClientError('incomplete', 'the proxy sent no answer body');
    for await (const line of answerLines(response.body, options.signal)) {
      const event = JobStreamEvent.parse(line);
      if (event.type === 'accepted') {
        // A new acceptance can only come from a failover before any chunk arrived.
        if (opener !== undefined)
          throw new ClientError('incomplete', 'the proxy switched workers mid-answer');
        worker = candidates.find((c) => c.workerId === event.workerId);
        if (worker === undefined)
          throw new ClientError(
            'proxy_error',
            `the proxy routed to ${event.workerId}, which the client did not choose`,
          );
      } else if (event.type === 'chunk') {
        if (worker === undefined)
          throw new ClientError('proxy_error', 'a chunk arrived before the job was accepted');
        opener ??= new ChunkOpener(jobKey, header.jobId);
        const answer = AnswerEvent.parse(JSON.parse(fromUtf8(await opener.open(event.chunk))));
        if (answer.type === 'text') {
          text += answer.text;
          options.onText?.(answer.text);
        } else if (answer.type === 'end') {
          end = answer;
        } else {
          throw new ClientError('worker_error', `the worker could not run the job: ${answer.message}`, {
            code: answer.code,
          });
        }
      } else if (event.type === 'receipt') {
        signedReceipt = event.receipt;
      } else {
        throw new ClientError('proxy_error', event.message, { code: event.code });
      }
    }
    if (worker === undefined || opener === undefined || end === undefined || signedReceipt === undefined) {
      throw new ClientError(
        'incomplete',
        'the answer stream ended before the answer and its receipt were complete',
      );
    }
    try {
      opener.finish();
    } catch (error) {
      if (error instanceof SealError) throw new ClientError('incomplete', error.message);
      throw error;
    }
    const receipt = checkReceipt(signedReceipt, {
      header,
      worker,
      usage: end.usage,
      requestHash: toHex(requestHash(sealed)),
      responseHash: toHex(opener.responseHash()),
    });
    const result: ChatResult = {
      text,
      finishReason: end.finishReason,
      usage: end.usage,
      receipt,
      signedReceipt,
      worker,
    };
    if (this.vouchers !== undefined) {
      result.voucher = await this.vouchers.add(receipt.amount);
      // The answer is verified and paid for by the signed total; a failed delivery is retried before the next job.
      await this.deliver(result.voucher).catch(() => undefined);
    }
    return result;
  }

  private async get<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    const response = await this.send('GET', path, '');
    return schema.parse(await response.json());
  }

  private async send(method: string, path: string, body: string, signal?: AbortSignal): Promise<Response> {
    const bytes = utf8(body);
    const headers = signRequest(
      { method, path, body: bytes },
      this.options.clientKey.secretKey,
      unixSeconds(this.clock),
    );
    let response: Response;
    try {
      response = await this.fetch(new URL(path, this.options.proxyUrl), {
        method,
        headers: { ...headers, ...(body === '' ? {} : { 'content-type': 'application/json' }) },
        ...(body === '' ? {} : { body: bytes }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      if (signal?.aborted) throw new ClientError('cancelled', 'the job was cancelled');
      throw new ClientError(
        'proxy_error',
        `cannot reach the proxy at ${this.options.proxyUrl}: ${(error as Error).message}`,
      );
    }
    if (!response.ok) {
      const parsed = ApiError.safeParse(await response.json().catch(() => undefined));
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new ClientError(
        'proxy_error',
        parsed.success ? parsed.data.error.message : `the proxy answered HTTP ${response.status}`,
        {
          status: response.status,
          ...(parsed.success ? { code: parsed.data.error.code } : {}),
          ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterSeconds: retryAfter } : {}),
        },
      );
    }
    return response;
  }
}

/** The answer's NDJSON lines; a connection that breaks off (a proxy that died) is a typed `incomplete`. */
async function* answerLines(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<unknown> {
  try {
    yield* readNdjson(body);
  } catch (error) {
    if (signal?.aborted) throw new ClientError('cancelled', 'the job was cancelled');
    throw new ClientError('incomplete', `the answer stream broke off: ${(error as Error).message}`);
  }
}

const loadRatio = (w: VerifiedWorker): number =>
  w.load.capacity === 0 ? 1 : w.load.activeJobs / w.load.capacity;

interface ReceiptExpectations {
  header: JobHeader;
  worker: VerifiedWorker;
  usage: Usage;
  requestHash: string;
  responseHash: string;
}

/** A receipt is accepted only if it is signed by the attested worker and matches the job to the last field. */
export function checkReceipt(signed: SignedReceipt, expected: ReceiptExpectations): Receipt {
  let receipt: Receipt;
  try {
    receipt = verifyReceipt(signed, expected.worker.attestation.signPublicKey);
  } catch (error) {
    throw new ClientError('receipt_mismatch', (error as Error).message);
  }
  const { header, worker, usage } = expected;
  const want: Partial<Receipt> = {
    jobId: header.jobId,
    client: header.client,
    model: header.model,
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    pricePerToken: worker.offer.pricePerToken,
    amount: billedAmount(usage, worker.offer, header.maxCost),
    requestHash: expected.requestHash,
    responseHash: expected.responseHash,
  };
  for (const [field, value] of Object.entries(want) as [keyof Receipt, Receipt[keyof Receipt]][]) {
    if (receipt[field] !== value) {
      throw new ClientError('receipt_mismatch', `receipt ${field} is ${receipt[field]}, expected ${value}`);
    }
  }
  return receipt;
}
