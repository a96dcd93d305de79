import {
  type AnswerEvent,
  ChatRequest,
  DevAttestor,
  fromUtf8,
  generateSigningKeyPair,
  jobCost,
  type ModelOffer,
  ProxyToWorker,
  type Receipt,
  type SealedJob,
  type SigningKeyPair,
  signOffers,
  signPayoutAddress,
  signReceipt,
  toBase64,
  toHex,
  utf8,
  WorkerToProxy,
} from '@cocoon/shared';
import { generateWorkerKeyPair, type WorkerHpkeKeyPair } from '@cocoon/shared/crypto/hpke';
import { ChunkSealer, openJob, requestHash } from '@cocoon/shared/crypto/seal';
import WebSocket from 'ws';
import { waitFor } from './wait.js';

/**
 * - echo: answers at once with the request's last message, in two text chunks, then signs a receipt.
 * - hold: like echo, but only after `release(jobId)`; a cancel ends the answer and charges the prompt only.
 * - die: closes its socket when a job arrives (before any chunk).
 * - busy: refuses every job as busy.
 * - replayed: refuses every job as one it has already run.
 */
export type Behaviour = 'echo' | 'hold' | 'die' | 'busy' | 'replayed';

export interface TestWorkerOptions {
  /** ws://host:port/v1/worker (or wss://) */
  url: string;
  /** The CA to trust for a wss:// URL (a test certificate). */
  ca?: Buffer;
  models: { model: string; pricePerToken: bigint }[];
  capacity?: number;
  behaviour?: Behaviour;
  /** Changes the bundle before it is sent (to test refusals). */
  tamper?: (bundle: Record<string, unknown>) => Record<string, unknown>;
  /** Models bound into the attestation; the offered ones by default. */
  attestedModels?: string[];
  /** Seconds from now until the attestation expires. */
  validForSeconds?: number;
  heartbeatMs?: number;
  /** The address earnings go to; a fresh raw address by default. */
  payoutAddress?: string;
  /** Sign the payout address and the offers in the hello; the attested key by default (another tests refusals). */
  payoutSigner?: SigningKeyPair;
  offersSigner?: SigningKeyPair;
  /** Changes a receipt before signing it (to test refusals). */
  forgeReceipt?: (receipt: Receipt) => Receipt;
}

/** A worker that speaks the real protocol: dev attestation, real HPKE opening, sealed chunks, signed receipts. */
export class TestWorker {
  readonly received: string[] = [];
  readonly cancelled: string[] = [];
  workerId: string | undefined;
  rejected: string | undefined;
  readonly #held = new Map<string, () => void>();
  #heartbeat: NodeJS.Timeout | undefined;
  #active = 0;

  private constructor(
    readonly socket: WebSocket,
    public hpke: WorkerHpkeKeyPair,
    public sign: SigningKeyPair,
    readonly options: TestWorkerOptions,
    public bundle: Record<string, unknown>,
  ) {
    this.payoutAddress = options.payoutAddress ?? `0:${toHex(generateSigningKeyPair().publicKey)}`;
    this.offers = options.models.map((m, i) => this.#offer(m.model, m.pricePerToken, i));
  }

  readonly payoutAddress: string;
  readonly offers: ModelOffer[];

  static async #attest(options: TestWorkerOptions) {
    const hpke = await generateWorkerKeyPair();
    const sign = generateSigningKeyPair();
    const models = options.attestedModels ?? options.models.map((m) => m.model);
    const attested = await new DevAttestor().attest({
      hpkePublicKey: toHex(hpke.publicKey),
      signPublicKey: toHex(sign.publicKey),
      models: [...models].sort(),
      notAfter: Math.floor(Date.now() / 1000) + (options.validForSeconds ?? 3600),
    });
    const bundle = (options.tamper ?? ((b) => b))(
      structuredClone(attested) as unknown as Record<string, unknown>,
    );
    return { hpke, sign, bundle };
  }

  /** Connects and says hello; resolves once welcomed or rejected (check `workerId` / `rejected`). */
  static async connect(options: TestWorkerOptions): Promise<TestWorker> {
    const { hpke, sign, bundle } = await TestWorker.#attest(options);
    const socket = new WebSocket(options.url, options.ca ? { ca: options.ca } : {});
    const worker = new TestWorker(socket, hpke, sign, options, bundle);
    socket.on('message', (data) => void worker.#onMessage(data.toString()));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    worker.send({
      type: 'hello',
      v: 1,
      bundle,
      models: worker.offers,
      payoutAddress: worker.payoutAddress,
      ...worker.#signatures({ payout: options.payoutSigner ?? sign, offers: options.offersSigner ?? sign }),
      load: { activeJobs: 0, capacity: options.capacity ?? 4 },
    });
    await waitFor(
      () => worker.workerId !== undefined || worker.rejected !== undefined,
      'welcome or rejected',
    );
    if (worker.workerId !== undefined && options.heartbeatMs !== undefined) {
      worker.#heartbeat = setInterval(
        () =>
          worker.send({
            type: 'heartbeat',
            load: { activeJobs: worker.#active, capacity: options.capacity ?? 4 },
          }),
        options.heartbeatMs,
      );
    }
    return worker;
  }

  #offer(model: string, pricePerToken: bigint, i: number): ModelOffer {
    return {
      model,
      name: `test-model-${i}`,
      pricePerToken,
      priceCoefficient: 10_000,
      promptMultiplier: 10_000,
      completionMultiplier: 10_000,
      contextSize: 4096,
    };
  }

  /**
   * New keys and a new attestation, announced with `rotated`. Jobs already opened keep the old keys (their
   * receipts are signed with the old signing key, which the proxy recorded at dispatch).
   */
  async rotate(
    tamper?: TestWorkerOptions['tamper'],
    signers: { payout?: SigningKeyPair; offers?: SigningKeyPair } = {},
  ): Promise<void> {
    const { hpke, sign, bundle } = await TestWorker.#attest({
      ...this.options,
      ...(tamper ? { tamper } : {}),
    });
    this.hpke = hpke;
    this.sign = sign;
    this.bundle = bundle;
    this.send({
      type: 'rotated',
      bundle,
      ...this.#signatures({ payout: signers.payout ?? sign, offers: signers.offers ?? sign }),
    });
  }

  /** An address that is not a TON address cannot be signed: it gets a zero signature (refused first anyway). */
  #signatures(keys: { payout: SigningKeyPair; offers: SigningKeyPair }) {
    let payoutSignature: string;
    try {
      payoutSignature = signPayoutAddress(this.payoutAddress, keys.payout.secretKey);
    } catch {
      payoutSignature = toBase64(new Uint8Array(64));
    }
    return { payoutSignature, offersSignature: signOffers(this.offers, keys.offers.secretKey) };
  }

  get hpkePublicKey(): string {
    return toHex(this.hpke.publicKey);
  }

  send(message: WorkerToProxy): void {
    this.socket.send(JSON.stringify(WorkerToProxy.encode(message)));
  }

  release(jobId: string): void {
    const release = this.#held.get(jobId);
    if (release === undefined) throw new Error(`job ${jobId} is not held`);
    this.#held.delete(jobId);
    release();
  }

  isHeld(jobId: string): boolean {
    return this.#held.has(jobId);
  }

  stopHeartbeats(): void {
    clearInterval(this.#heartbeat);
  }

  /** Closes the connection abruptly (like a crash). */
  kill(): void {
    this.stopHeartbeats();
    this.socket.terminate();
  }

  async close(): Promise<void> {
    this.stopHeartbeats();
    if (this.socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }

  async #onMessage(text: string): Promise<void> {
    const message = ProxyToWorker.parse(JSON.parse(text));
    switch (message.type) {
      case 'welcome':
        this.workerId = message.workerId;
        return;
      case 'rejected':
        this.rejected = message.reason;
        return;
      case 'cancel':
        this.cancelled.push(message.jobId);
        this.#held.get(message.jobId)?.();
        this.#held.delete(message.jobId);
        return;
      case 'job':
        this.received.push(message.job.header.jobId);
        await this.#run(message.job);
    }
  }

  async #run(job: SealedJob): Promise<void> {
    const behaviour = this.options.behaviour ?? 'echo';
    if (behaviour === 'die') {
      this.kill();
      return;
    }
    if (behaviour === 'busy' || behaviour === 'replayed') {
      this.send({ type: 'refused', jobId: job.header.jobId, code: behaviour });
      return;
    }
    this.#active += 1;
    const signKey = this.sign;
    const { request, jobKey } = await openJob(job, this.hpke);
    if (behaviour === 'hold' && !this.cancelled.includes(job.header.jobId)) {
      await new Promise<void>((resolve) => this.#held.set(job.header.jobId, resolve));
    }
    const chat = ChatRequest.parse(JSON.parse(fromUtf8(request)));
    const text = chat.messages.at(-1)?.content ?? '';
    const half = Math.floor(text.length / 2);
    // A cancelled job is charged for its prompt only, and its answer ends at once.
    const cancelled = this.cancelled.includes(job.header.jobId);
    const tokens = Math.ceil(text.length / 4);
    const usage = { promptTokens: tokens, completionTokens: cancelled ? 0 : tokens };
    const events: AnswerEvent[] = cancelled
      ? [{ type: 'end', finishReason: 'cancelled', usage }]
      : [
          { type: 'text', text: text.slice(0, half) },
          { type: 'text', text: text.slice(half) },
          { type: 'end', finishReason: 'stop', usage },
        ];
    const sealer = new ChunkSealer(jobKey, job.header.jobId);
    for (const [i, event] of events.entries()) {
      const chunk = await sealer.seal(utf8(JSON.stringify(event)), { final: i === events.length - 1 });
      this.send({ type: 'chunk', chunk });
    }
    const offer = this.options.models.find((m) => m.model === job.header.model);
    const pricePerToken = offer?.pricePerToken ?? 0n;
    const cost = jobCost(usage, { pricePerToken, promptMultiplier: 10_000, completionMultiplier: 10_000 });
    const forge = this.options.forgeReceipt ?? ((receipt: Receipt) => receipt);
    const receipt = signReceipt(
      forge({
        jobId: job.header.jobId,
        client: job.header.client,
        model: job.header.model,
        ...usage,
        pricePerToken,
        // biome-ignore lint/complexity/useMathMinMax: bigints, which Math.min does not take
        amount: cost < job.header.maxCost ? cost : job.header.maxCost,
        requestHash: toHex(requestHash(job)),
        responseHash: toHex(sealer.responseHash()),
        worker: toHex(signKey.publicKey),
        time: Math.floor(Date.now() / 1000),
      }),
      signKey.secretKey,
    );
    this.send({ type: 'receipt', jobId: job.header.jobId, receipt });
    this.#active -= 1;
  }
}
