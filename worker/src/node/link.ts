import {
  type Clock,
  type Logger,
  type ModelOffer,
  PROTOCOL_VERSION,
  ProxyToWorker,
  signOffers,
  signPayoutAddress,
  WorkerToProxy,
} from '@cocoon/shared';
import { ExpiringIds } from '@cocoon/shared/expiring-ids';
import WebSocket from 'ws';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import type { WorkerIdentity } from './identity.js';
import { type JobOutcome, serveJob } from './serve-job.js';

export interface ProxyLinkOptions {
  /** The proxy's base URL (http(s)://…); the worker dials its `/v1/worker` WebSocket. */
  proxyUrl: string;
  identity: WorkerIdentity;
  engine: Engine;
  offers: ReadonlyMap<string, ModelOffer>;
  payoutAddress: string;
  clock: Clock;
  log: Logger;
  heartbeatMs?: number;
  /** Rotate keys this many seconds before they run out. */
  rotateBeforeSeconds?: number;
  /** Reconnect backoff bounds. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called with every job's outcome: the worker's own accounting. */
  onJob?: (outcome: JobOutcome) => void;
}

export type LinkState = 'connecting' | 'admitted' | 'rejected' | 'disconnected' | 'draining' | 'closed';

/**
 * The worker's one connection to its proxy. The worker dials out (NAT is fine), says hello with its
 * attestation, serves the jobs it is sent, heartbeats its load, reconnects with backoff, rotates keys on
 * schedule, and drains on request: finishes running jobs, takes no new ones.
 */
export class ProxyLink {
  #socket: WebSocket | undefined;
  #state: LinkState = 'connecting';
  #workerId: string | undefined;
  #backoffMs: number;
  #timers = new Set<NodeJS.Timeout>();
  readonly #jobs = new Map<string, AbortController>();
  /**
   * Ids of the jobs started, until their header expires (an expired job is refused anyway): a sealed job
   * replayed, through this proxy or another, does not make this worker run it again for one receipt's pay.
   * Keys live in memory only, so a restarted worker cannot open an old job at all.
   */
  readonly #started = new ExpiringIds();
  readonly #running = new Set<Promise<unknown>>();
  #lastRejection: string | undefined;

  constructor(private readonly options: ProxyLinkOptions) {
    this.#backoffMs = options.minBackoffMs ?? 500;
  }

  get state(): LinkState {
    return this.#state;
  }
  get workerId(): string | undefined {
    return this.#workerId;
  }
  get lastRejection(): string | undefined {
    return this.#lastRejection;
  }
  get activeJobs(): number {
    return this.#jobs.size;
  }
  get capacity(): number {
    return this.options.engine.models.reduce((sum, model) => sum + model.parallelJobs, 0);
  }

  start(): void {
    this.#connect();
    this.#every(this.options.heartbeatMs ?? 5_000, () =>
      this.#send({ type: 'heartbeat', load: this.#load() }),
    );
    this.#scheduleRotation();
  }

  /** Stops taking jobs, waits for running ones (bounded), then closes. */
  async drain(timeoutMs = 60_000): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'draining';
    this.#send({ type: 'draining' });
    const deadline = new Promise((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([Promise.allSettled([...this.#running]), deadline]);
    await this.close();
  }

  async close(): Promise<void> {
    this.#state = 'closed';
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const controller of this.#jobs.values()) controller.abort();
    this.#socket?.close(1001, 'worker stopping');
    await Promise.allSettled([...this.#running]);
  }

  #connect(): void {
    if (this.#state === 'closed') return;
    const url = new URL('/v1/worker', this.options.proxyUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
    this.#socket = socket;
    if (this.#state !== 'draining') this.#state = 'connecting';
    socket.on('open', () => {
      this.#backoffMs = this.options.minBackoffMs ?? 500;
      this.#send({
        type: 'hello',
        v: PROTOCOL_VERSION,
        bundle: this.options.identity.current.bundle,
        models: [...this.options.offers.values()],
        payoutAddress: this.options.payoutAddress,
        ...this.#signatures(),
        load: this.#load(),
      });
    });
    socket.on('message', (data) => this.#onMessage(String(data)));
    socket.on('error', (error) =>
      this.options.log.warn({ err: error.message, url: url.origin }, 'proxy link error'),
    );
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      for (const controller of this.#jobs.values()) controller.abort();
      if (this.#state === 'closed') return;
      if (this.#state !== 'rejected' && this.#state !== 'draining') this.#state = 'disconnected';
      const delay = this.#backoffMs * (0.5 + Math.random());
      this.#backoffMs = Math.min(this.#backoffMs * 2, this.options.maxBackoffMs ?? 30_000);
      this.options.log.info({ retryInMs: Math.round(delay) }, 'proxy link closed; reconnecting');
      this.#after(delay, () => this.#connect());
    });
  }

  #onMessage(text: string): void {
    let message: ProxyToWorker;
    try {
      message = ProxyToWorker.parse(JSON.parse(text));
    } catch (error) {
      this.options.log.warn({ err: (error as Error).message }, 'unreadable message from the proxy');
      return;
    }
    switch (message.type) {
      case 'welcome':
        this.#workerId = message.workerId;
        if (this.#state !== 'draining') this.#state = 'admitted';
        this.#lastRejection = undefined;
        this.options.log.info({ workerId: message.workerId }, 'admitted by the proxy');
        break;
      case 'rejected':
        this.#state = 'rejected';
        this.#lastRejection = message.reason;
        this.options.log.error({ reason: message.reason }, 'the proxy refused this worker');
        break;
      case 'cancel':
        this.#jobs.get(message.jobId)?.abort();
        break;
      case 'job':
        this.#startJob(message.job);
        break;
    }
  }

  #startJob(job: Extract<ProxyToWorker, { type: 'job' }>['job']): void {
    const { jobId } = job.header;
    const refusal =
      this.#state === 'draining'
        ? 'draining'
        : this.#started.has(jobId)
          ? 'replayed'
          : this.#jobs.size >= this.capacity
            ? 'busy'
            : undefined;
    if (refusal !== undefined) {
      this.#send({ type: 'refused', jobId, code: refusal });
      return;
    }
    this.#started.add(jobId, job.header.expiresAt * 1000, this.options.clock.now());
    const controller = new AbortController();
    this.#jobs.set(jobId, controller);
    const started = Date.now();
    const run = serveJob(
      job,
      this.options,
      (chunk) => this.#send({ type: 'chunk', chunk }),
      controller.signal,
    )
      .then((outcome) => {
        if (outcome.kind === 'refused') this.#send({ type: 'refused', jobId, code: outcome.code });
        if (outcome.kind === 'served') this.#send({ type: 'receipt', jobId, receipt: outcome.receipt });
        this.options.log.info(
          {
            jobId,
            outcome: outcome.kind,
            ms: Date.now() - started,
            ...('completionTokens' in outcome
              ? { promptTokens: outcome.promptTokens, completionTokens: outcome.completionTokens }
              : {}),
          },
          'job finished',
        );
        this.options.onJob?.(outcome);
      })
      .catch((error: unknown) => this.options.log.error({ jobId, err: (error as Error).name }, 'job crashed'))
      .finally(() => {
        this.#jobs.delete(jobId);
        this.#running.delete(run);
      });
    this.#running.add(run);
  }

  #send(message: WorkerToProxy): void {
    if (this.#socket?.readyState !== WebSocket.OPEN) return;
    this.#socket.send(JSON.stringify(encodeMessage(message)));
  }

  /** The payout address and offers signed by the current attested key: nobody on the way can change them. */
  #signatures(): { payoutSignature: string; offersSignature: string } {
    const key = this.options.identity.current.signing.secretKey;
    return {
      payoutSignature: signPayoutAddress(this.options.payoutAddress, key),
      offersSignature: signOffers([...this.options.offers.values()], key),
    };
  }

  #load() {
    return { activeJobs: this.#jobs.size, capacity: this.#state === 'draining' ? 0 : this.capacity };
  }

  #scheduleRotation(): void {
    const lead = this.options.rotateBeforeSeconds ?? 600;
    const waitMs = Math.max(1_000, (this.options.identity.secondsLeft() - lead) * 1000);
    this.#after(waitMs, async () => {
      try {
        const keys = await this.options.identity.rotate();
        this.#send({ type: 'rotated', bundle: keys.bundle, ...this.#signatures() });
        this.options.log.info({ keyId: keys.hpke.keyId, notAfter: keys.bundle.notAfter }, 'keys rotated');
      } catch (error) {
        this.options.log.error({ err: (error as Error).message }, 'key rotation failed; retrying');
      }
      this.#scheduleRotation();
    });
  }

  #after(ms: number, work: () => void | Promise<void>): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void work();
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  #every(ms: number, work: () => void): void {
    this.#after(ms, () => {
      work();
      if (this.#state !== 'closed') this.#every(ms, work);
    });
  }
}

/** Messages carry bigints (money) in code and decimal strings on the wire. */
function encodeMessage(message: WorkerToProxy): unknown {
  return z.encode(WorkerToProxy, message);
}
