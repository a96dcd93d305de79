import {
  type AnswerEvent,
  billedAmount,
  CHUNK_PADDING_FLOOR,
  ChunkSealer,
  type Clock,
  fromUtf8,
  type ModelOffer,
  openJob,
  padJson,
  requestHash,
  SealError,
  type SealedChunk,
  type SealedJob,
  type SignedReceipt,
  signReceipt,
  toHex,
  unixSeconds,
  utf8,
} from '@cocoon/shared';
import type { Engine } from '../engine/engine.js';
import { EngineError } from '../engine/engine.js';
import { ChatRequest } from '../engine/request.js';
import type { WorkerIdentity } from './identity.js';

/** Why a job was refused before anything ran: content-free, so the proxy may see it. */
export type RefusalCode = 'unknown_key' | 'unknown_model' | 'expired' | 'malformed';

export type JobOutcome =
  | { kind: 'refused'; code: RefusalCode }
  | { kind: 'served'; receipt: SignedReceipt; promptTokens: number; completionTokens: number; amount: bigint }
  | { kind: 'failed' };

export interface ServeJobDeps {
  identity: WorkerIdentity;
  engine: Engine;
  offers: ReadonlyMap<string, ModelOffer>;
  clock: Clock;
}

/**
 * Runs one sealed job inside the enclave: opens it, runs the model, streams the answer sealed, and signs
 * the receipt. Nothing readable leaves this function but usage numbers; errors for the client go sealed.
 */
export async function serveJob(
  job: SealedJob,
  deps: ServeJobDeps,
  send: (chunk: SealedChunk) => void,
  signal: AbortSignal,
): Promise<JobOutcome> {
  const offer = deps.offers.get(job.header.model);
  if (offer === undefined) return { kind: 'refused', code: 'unknown_model' };
  const held = deps.identity.acquire(job.recipients.map((r) => r.keyId));
  if (held === undefined) return { kind: 'refused', code: 'unknown_key' };
  try {
    let opened: Awaited<ReturnType<typeof openJob>>;
    try {
      opened = await openJob(job, held.keys.hpke, { clock: deps.clock });
    } catch (error) {
      if (error instanceof SealError)
        return { kind: 'refused', code: error.code === 'expired' ? 'expired' : 'malformed' };
      throw error;
    }
    const answer = new SealedAnswer(new ChunkSealer(opened.jobKey, job.header.jobId), send);

    const parsed = parseRequest(opened.request);
    if (!parsed.success) {
      await answer.end({ type: 'error', code: 'invalid_request', message: parsed.message });
      return { kind: 'failed' };
    }
    let generation: Awaited<ReturnType<ReturnType<Engine['model']>['generate']>>;
    try {
      generation = await deps.engine.model(job.header.model).generate(parsed.request, {
        signal,
        maxTokens: job.header.maxTokens,
        onText: (text) => answer.text(text),
      });
    } catch (error) {
      const code = error instanceof EngineError ? error.code : 'generation_failed';
      const message = error instanceof EngineError ? error.message : 'the model failed to generate';
      await answer.end({ type: 'error', code, message });
      return { kind: 'failed' };
    }
    const { usage } = generation;
    await answer.end({ type: 'end', finishReason: generation.finishReason, usage });
    const amount = billedAmount(usage, offer, job.header.maxCost);
    const receipt = signReceipt(
      {
        jobId: job.header.jobId,
        client: job.header.client,
        model: job.header.model,
        promptTokens: usage.promptTokens,
        completionTokens: usage.completionTokens,
        pricePerToken: offer.pricePerToken,
        amount,
        requestHash: toHex(requestHash(job)),
        responseHash: toHex(answer.responseHash()),
        worker: toHex(held.keys.signing.publicKey),
        time: unixSeconds(deps.clock),
      },
      held.keys.signing.secretKey,
    );
    return { kind: 'served', receipt, ...usage, amount };
  } finally {
    held.release();
  }
}

/**
 * Pieces of text closer together than this share a chunk: a fast model is not slowed to the pace of sealing
 * (each chunk costs tens of µs of the main thread, where llama.cpp hands out tokens), a network observer sees
 * fewer, coarser chunks, and half a 60 Hz frame is below what a reader can see. A model slower than this
 * per token still sends each token as it comes.
 */
export const COALESCE_MS = 8;

/**
 * The answer as sealed chunks, in order. The first piece goes out at once; later pieces that arrive within
 * COALESCE_MS of the previous chunk, or while it is being sealed, ride in the next chunk.
 */
class SealedAnswer {
  #pending = '';
  #sealing = false;
  #timer: NodeJS.Timeout | undefined;
  #lastSealAt = Number.NEGATIVE_INFINITY;
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly sealer: ChunkSealer,
    private readonly send: (chunk: SealedChunk) => void,
  ) {}

  text(text: string): void {
    this.#pending += text;
    this.#schedule();
  }

  /** Sends what text is left, then the final event (usage or error). */
  async end(event: Extract<AnswerEvent, { type: 'end' | 'error' }>): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#sealing || this.#pending !== '') {
      this.#pump();
      await this.#queue;
    }
    this.#queue = this.#queue.then(() => this.#seal(event, true));
    await this.#queue;
  }

  responseHash(): Uint8Array {
    return this.sealer.responseHash();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#sealing) return;
    const wait = this.#lastSealAt + COALESCE_MS - performance.now();
    if (wait <= 0) this.#pump();
    else
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, wait);
  }

  #pump(): void {
    if (this.#sealing || this.#pending === '') return;
    const text = this.#pending;
    this.#pending = '';
    this.#sealing = true;
    this.#lastSealAt = performance.now();
    this.#queue = this.#queue
      .then(() => this.#seal({ type: 'text', text }, false))
      .finally(() => {
        this.#sealing = false;
        if (this.#pending !== '') this.#schedule();
      });
  }

  async #seal(event: AnswerEvent, final: boolean): Promise<void> {
    this.send(await this.sealer.seal(padJson(utf8(JSON.stringify(event)), CHUNK_PADDING_FLOOR), { final }));
  }
}

function parseRequest(
  bytes: Uint8Array,
): { success: true; request: ChatRequest } | { success: false; message: string } {
  try {
    const result = ChatRequest.safeParse(JSON.parse(fromUtf8(bytes)));
    if (result.success) return { success: true, request: result.data };
    const issue = result.error.issues[0];
    return { success: false, message: `invalid chat request: ${issue?.path.join('.')} ${issue?.message}` };
  } catch {
    return { success: false, message: 'the job body is not UTF-8 JSON' };
  }
}
