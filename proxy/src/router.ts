import type { Clock, Receipt, SealedChunk, SealedJob, SignedReceipt } from '@cocoon/shared';
import { ExpiringIds } from '@cocoon/shared/expiring-ids';
import type { Logger } from '@cocoon/shared/log';
import type { CreditSource } from './credit.js';
import { ProxyError, type ProxyErrorCode } from './errors.js';
import { checkReceipt, type JobTerms, type Ledger, ReceiptRefused } from './ledger.js';
import type { ProxyMetrics } from './metrics.js';
import type { PolicyKeeper } from './policy.js';
import type { RateLimiter } from './rate-limit.js';
import type { AdmittedWorker, RegistryListener, WorkerRegistry } from './registry.js';
import type { JobMessage, JobMessageHandler } from './worker-endpoint.js';

/** Where a job's events go (the client's HTTP response). After `receipt` or `fail`, nothing more comes. */
export interface JobSink {
  /** The job was sent to a worker; called again if it fails over to another before its first chunk. */
  accepted(workerId: string): void;
  chunk(chunk: SealedChunk): void;
  /** The worker's receipt arrived: the worker's turn is over (the receipt is checked and recorded next). */
  answered(): void;
  receipt(receipt: SignedReceipt): void;
  fail(error: ProxyError): void;
}

/** A job as admitted over HTTP: parsed for the proxy, and its validated wire text to forward to workers. */
export interface SubmittedJob {
  sealed: SealedJob;
  /** The request body (JSON that `SealedJob` accepted); sent on unchanged, so it is not encoded again. */
  wire: string;
}

export interface RouterOptions {
  /** Jobs waiting for a free worker, per model; beyond it, 429. */
  maxQueuePerModel: number;
  /** Jobs a client may have queued or running at once. */
  maxJobsPerClient: number;
  /** The largest maxTokens a job may ask for. */
  maxTokensPerJob: number;
  /** From admission to receipt; a job past it is cancelled on its worker. */
  jobDeadlineMs: number;
  /** After a cancel, how long a worker's receipt for the partial answer is still accepted and recorded. */
  receiptGraceMs: number;
  /** How far ahead a job's expiresAt may be; bounds how long job ids are remembered against replays. */
  maxJobLifetimeMs: number;
}

type JobState = 'queued' | 'running' | 'cancelled' | 'done';

/** Worker refusals after which another candidate may still serve the job. */
const RETRYABLE_REFUSALS = new Set(['busy', 'draining', 'unknown_key', 'unknown_model']);
/** The client's error for a worker refusal that ends the job; any other is a bad request. */
const REFUSAL_ERRORS: Partial<Record<Extract<JobMessage, { type: 'refused' }>['code'], ProxyErrorCode>> = {
  expired: 'job_expired',
  replayed: 'duplicate_job',
};

class RoutedJob {
  state: JobState = 'queued';
  worker: AdmittedWorker | undefined;
  terms: JobTerms | undefined;
  /** True while the job counts against its worker's slots. */
  holdsSlot = false;
  firstChunkSeen = false;
  /** A receipt is being checked and stored: its outcome ends the job, not a disconnect or the deadline. */
  receiptPending = false;
  readonly tried = new Set<string>();
  readonly admittedAtMs: number;
  dispatchedAtMs = 0;
  timer: NodeJS.Timeout | undefined;

  readonly sealed: SealedJob;
  readonly wire: string;

  constructor(
    submitted: SubmittedJob,
    readonly sink: JobSink,
    nowMs: number,
  ) {
    this.sealed = submitted.sealed;
    this.wire = submitted.wire;
    this.admittedAtMs = nowMs;
  }

  get id(): string {
    return this.sealed.header.jobId;
  }
  get client(): string {
    return this.sealed.header.client;
  }
  get model(): string {
    return this.sealed.header.model;
  }
}

export interface RouterDeps {
  registry: WorkerRegistry;
  policy: PolicyKeeper;
  credit: CreditSource;
  ledger: Ledger;
  rateLimiter: RateLimiter;
  clock: Clock;
  log?: Logger;
}

/**
 * Admission, queueing and routing of sealed jobs, and the bookkeeping of their answers. It sees headers,
 * sizes and timing only. Every job ends exactly once (`#finish`), which settles its credit.
 */
export class JobRouter implements RegistryListener, JobMessageHandler {
  readonly #jobs = new Map<string, RoutedJob>();
  readonly #queues = new Map<string, RoutedJob[]>();
  readonly #byWorker = new Map<string, Set<RoutedJob>>();
  readonly #activeByClient = new Map<string, number>();
  /**
   * Admitted job ids, until their header expires (workers refuse expired jobs), so a replayed request does
   * not run twice on this proxy. A worker refuses a job id it has run (`replayed`), and the ledger's unique
   * job id charges a replay through another proxy once.
   */
  readonly #seen = new ExpiringIds();
  /** Recent service time per model (EWMA, seconds), to tell a refused client when to come back. */
  readonly #serviceSeconds = new Map<string, number>();
  #metrics: ProxyMetrics | undefined;

  constructor(
    private readonly deps: RouterDeps,
    private readonly options: RouterOptions,
  ) {}

  setMetrics(metrics: ProxyMetrics): void {
    this.#metrics = metrics;
  }

  queueDepths(): Map<string, number> {
    return new Map([...this.#queues].map(([model, queue]) => [model, queue.length]));
  }

  /**
   * Admits a job signed by `client` and queues or dispatches it. Throws ProxyError when it is refused;
   * once this resolves, the job's outcome reaches `sink`.
   */
  async submit(submitted: SubmittedJob, client: string, sink: JobSink): Promise<void> {
    try {
      await this.#admit(submitted, client, sink);
    } catch (error) {
      if (error instanceof ProxyError) this.#metrics?.jobs.inc({ outcome: 'rejected', code: error.code });
      throw error;
    }
  }

  async #admit(submitted: SubmittedJob, client: string, sink: JobSink): Promise<void> {
    const { sealed } = submitted;
    const { header } = sealed;
    const { registry, policy, credit, rateLimiter, clock } = this.deps;
    if (header.client !== client) {
      throw new ProxyError(
        'forbidden',
        'the job header names another client account than the request signer',
      );
    }
    if (header.expiresAt * 1000 <= clock.now())
      throw new ProxyError('job_expired', `job expired at ${header.expiresAt}`);
    if (header.expiresAt * 1000 > clock.now() + this.options.maxJobLifetimeMs) {
      throw new ProxyError(
        'bad_request',
        `expiresAt may be at most ${this.options.maxJobLifetimeMs / 1000}s ahead`,
      );
    }
    if (header.maxTokens > this.options.maxTokensPerJob) {
      throw new ProxyError(
        'too_many_tokens',
        `maxTokens ${header.maxTokens} is above this proxy's limit of ${this.options.maxTokensPerJob}`,
      );
    }
    if (this.#jobs.has(header.jobId) || this.#seen.has(header.jobId)) {
      throw new ProxyError('duplicate_job', `job ${header.jobId} was already sent`);
    }
    policy.current();
    if (!this.deps.ledger.writable())
      throw new ProxyError('store_unavailable', 'the proxy cannot record receipts right now', 1);
    const waitSeconds = rateLimiter.take(client);
    if (waitSeconds > 0)
      throw new ProxyError('rate_limited', 'too many jobs per second from this client', waitSeconds);
    const active = this.#activeByClient.get(client) ?? 0;
    if (active >= this.options.maxJobsPerClient) {
      throw new ProxyError(
        'too_many_jobs',
        `at most ${this.options.maxJobsPerClient} jobs per client at once`,
        1,
      );
    }
    const eligible = registry.eligibleFor(sealed);
    if (eligible.length === 0) {
      throw new ProxyError(
        'no_worker',
        `none of the job's recipients is an admitted worker serving model ${header.model} within maxCost`,
        5,
      );
    }
    this.#checkQueueRoom(header.model, eligible);

    const job = new RoutedJob(submitted, sink, clock.now());
    this.#jobs.set(job.id, job);
    this.#activeByClient.set(client, active + 1);
    let reserved = false;
    try {
      await credit.reserve(client, job.id, header.maxCost);
      reserved = true;
      if (job.state === 'done') {
        // The client left while the credit was being reserved.
        await credit.settle(job.id, 0n);
        return;
      }
      // The world moved while the reservation was taken: check room again before committing to the job.
      if (!this.#dispatch(job)) this.#checkQueueRoom(header.model, registry.eligibleFor(sealed));
    } catch (error) {
      if (job.state !== 'done') {
        job.state = 'done';
        this.#forget(job);
        this.#decrementActive(client);
      }
      if (reserved) await credit.settle(job.id, 0n);
      throw error;
    }
    this.#seen.add(job.id, header.expiresAt * 1000, clock.now());
    job.timer = setTimeout(() => this.#deadline(job), this.options.jobDeadlineMs);
    if (job.state === 'queued') this.#enqueue(job, 'back');
  }

  #checkQueueRoom(model: string, eligible: AdmittedWorker[]): void {
    if (eligible.some((worker) => worker.freeSlots > 0)) return;
    const depth = this.#queues.get(model)?.length ?? 0;
    if (depth >= this.options.maxQueuePerModel) {
      throw new ProxyError(
        'queue_full',
        `the queue for model ${model} is full`,
        this.#retryAfter(model, eligible),
      );
    }
  }

  /** Roughly when a slot frees up: queued jobs ahead, shared over the candidates' slots. */
  #retryAfter(model: string, eligible: AdmittedWorker[]): number {
    const slots = Math.max(
      1,
      eligible.reduce((sum, worker) => sum + worker.load.capacity, 0),
    );
    const ahead = (this.#queues.get(model)?.length ?? 0) + 1;
    const service = this.#serviceSeconds.get(model) ?? 1;
    return Math.min(60, Math.max(1, Math.ceil((ahead * service) / slots)));
  }

  /** Sends the job to the least-loaded free candidate not tried yet; false when none is free. */
  #dispatch(job: RoutedJob): boolean {
    let best: AdmittedWorker | undefined;
    for (const worker of this.deps.registry.eligibleFor(job.sealed)) {
      if (worker.freeSlots === 0 || job.tried.has(worker.id)) continue;
      if (
        best === undefined ||
        worker.utilisation < best.utilisation ||
        (worker.utilisation === best.utilisation && worker.inFlight < best.inFlight)
      ) {
        best = worker;
      }
    }
    if (best === undefined) return false;
    const offer = best.offers.get(job.model);
    if (offer === undefined) return false;
    const now = this.deps.clock.now();
    job.state = 'running';
    job.worker = best;
    job.holdsSlot = true;
    job.dispatchedAtMs = now;
    job.terms = {
      jobId: job.id,
      client: job.client,
      model: job.model,
      maxCost: job.sealed.header.maxCost,
      workerSignKey: best.attestation.signPublicKey,
      payoutAddress: best.payoutAddress,
      offer,
    };
    best.inFlight += 1;
    let jobs = this.#byWorker.get(best.id);
    if (jobs === undefined) {
      jobs = new Set();
      this.#byWorker.set(best.id, jobs);
    }
    jobs.add(job);
    this.#metrics?.dispatchLatency.observe((now - job.admittedAtMs) / 1000);
    best.link.sendJob(job.wire);
    job.sink.accepted(best.id);
    return true;
  }

  /** Dispatches, or queues when every candidate is busy, or fails when no untried candidate is left. */
  #route(job: RoutedJob, position: 'front' | 'back'): void {
    if (this.#dispatch(job)) return;
    const untried = this.deps.registry.eligibleFor(job.sealed).filter((worker) => !job.tried.has(worker.id));
    if (untried.length === 0) {
      this.#finish(job, new ProxyError('no_worker', 'no candidate worker is left for this job', 5));
      return;
    }
    this.#enqueue(job, position);
  }

  #enqueue(job: RoutedJob, position: 'front' | 'back'): void {
    job.state = 'queued';
    let queue = this.#queues.get(job.model);
    if (queue === undefined) {
      queue = [];
      this.#queues.set(job.model, queue);
    }
    if (position === 'front') queue.unshift(job);
    else queue.push(job);
  }

  #dequeue(job: RoutedJob): void {
    const queue = this.#queues.get(job.model);
    if (queue === undefined) return;
    const index = queue.indexOf(job);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0) this.#queues.delete(job.model);
  }

  /** Releases the job's worker slot (once) and, unless the worker said it is busy, lets queued jobs use it. */
  #releaseSlot(job: RoutedJob, options: { reuse: boolean } = { reuse: true }): void {
    if (!job.holdsSlot || job.worker === undefined) return;
    job.holdsSlot = false;
    job.worker.inFlight -= 1;
    if (options.reuse) this.capacityFreed(job.worker);
  }

  capacityFreed(worker: AdmittedWorker): void {
    for (const model of worker.offers.keys()) {
      const queue = this.#queues.get(model);
      if (queue === undefined) continue;
      for (const job of [...queue]) {
        if (worker.freeSlots === 0) break;
        if (this.#dispatch(job)) this.#dequeue(job);
      }
    }
  }

  workerGone(worker: AdmittedWorker, reason: string): void {
    const jobs = this.#byWorker.get(worker.id);
    this.#byWorker.delete(worker.id);
    for (const job of jobs ?? []) {
      if (job.worker !== worker || job.receiptPending) continue;
      job.holdsSlot = false;
      if (job.state === 'running' && !job.firstChunkSeen) {
        this.#failover(job, worker, reason);
      } else if (job.state === 'running') {
        this.#finish(job, new ProxyError('bad_gateway', `the worker was lost mid-answer (${reason})`));
      } else if (job.state === 'cancelled') {
        this.#settleCancelled(job, 0n);
      }
    }
  }

  #failover(job: RoutedJob, worker: AdmittedWorker, reason: string): void {
    job.tried.add(worker.id);
    job.worker = undefined;
    job.terms = undefined;
    this.#byWorker.get(worker.id)?.delete(job);
    this.#metrics?.failovers.inc();
    this.deps.log?.info({ jobId: job.id, workerId: worker.id, reason }, 'job fails over');
    this.#route(job, 'front');
  }

  fromWorker(worker: AdmittedWorker, message: JobMessage): void {
    const jobId = message.type === 'chunk' ? message.chunk.jobId : message.jobId;
    const job = this.#jobs.get(jobId);
    if (job === undefined || job.worker !== worker) {
      this.deps.log?.warn(
        { workerId: worker.id, jobId, type: message.type },
        'message for a job not on this worker',
      );
      return;
    }
    switch (message.type) {
      case 'chunk':
        if (job.state !== 'running') return;
        if (!job.firstChunkSeen) {
          job.firstChunkSeen = true;
          this.#metrics?.firstChunkLatency.observe((this.deps.clock.now() - job.dispatchedAtMs) / 1000);
        }
        job.sink.chunk(message.chunk);
        return;
      case 'refused':
        if (job.state !== 'running') return;
        if (!job.firstChunkSeen && RETRYABLE_REFUSALS.has(message.code)) {
          if (message.code === 'draining') this.deps.registry.drain(worker);
          this.#releaseSlot(job, { reuse: false });
          this.#failover(job, worker, `refused: ${message.code}`);
        } else {
          this.#finish(
            job,
            new ProxyError(
              REFUSAL_ERRORS[message.code] ?? 'bad_request',
              `the worker refused the job: ${message.code}`,
            ),
          );
        }
        return;
      case 'receipt':
        void this.#onReceipt(job, worker, message.receipt);
        return;
    }
  }

  async #onReceipt(job: RoutedJob, worker: AdmittedWorker, signed: SignedReceipt): Promise<void> {
    const terms = job.terms;
    if (terms === undefined || job.receiptPending || (job.state !== 'running' && job.state !== 'cancelled'))
      return;
    job.receiptPending = true;
    if (job.state === 'running') job.sink.answered();
    const { ledger, log, registry } = this.deps;
    // A cancelled job has already ended for its client; only its credit is left to settle.
    const end = (error: ProxyError | undefined, settlement: { spent?: bigint; receipt?: SignedReceipt }) => {
      if (job.state === 'cancelled') this.#settleCancelled(job, settlement.spent ?? 0n);
      else this.#finish(job, error, settlement);
    };
    let checked: Receipt | undefined;
    try {
      const { receipt, id } = await checkReceipt(signed, terms);
      checked = receipt;
      const { fresh } = await ledger.record(signed, receipt, terms.payoutAddress, id);
      this.#metrics?.receipts.inc({ result: fresh ? 'recorded' : 'duplicate' });
      if (fresh) this.#metrics?.charged.inc(Number(receipt.amount));
      // A receipt for a job already recorded (a replay through another proxy) is not charged again.
      end(undefined, { spent: fresh ? receipt.amount : 0n, receipt: signed });
    } catch (error) {
      if (!(error instanceof ReceiptRefused)) {
        log?.error({ jobId: job.id, err: (error as Error).message }, 'could not record a receipt');
        // Whether the write landed is unknown: the job counts as having spent its receipt's amount here (as
        // much as it may), and what the client is charged is what the store's receipts say.
        end(new ProxyError('internal', 'the receipt could not be recorded'), {
          spent: checked?.amount ?? terms.maxCost,
        });
        return;
      }
      this.#metrics?.receipts.inc({ result: 'refused' });
      log?.warn(
        { jobId: job.id, workerId: worker.id, code: error.code },
        'receipt refused; dropping the worker',
      );
      end(new ProxyError('bad_gateway', `the worker sent an invalid receipt (${error.code})`), {});
      registry.remove(worker, `invalid receipt: ${error.message}`, { reject: true });
    }
  }

  /**
   * The client went away: drop the job if queued, else cancel it on its worker. Only the request that
   * submitted the job (its sink) can cancel it, not a replay of it refused as a duplicate.
   */
  cancel(jobId: string, sink: JobSink): void {
    const job = this.#jobs.get(jobId);
    if (job === undefined || job.sink !== sink || job.state === 'done' || job.state === 'cancelled') return;
    this.#cancel(job, 'client_gone');
  }

  #deadline(job: RoutedJob): void {
    if (job.receiptPending) return;
    if (job.state === 'queued') {
      this.#finish(job, new ProxyError('queue_timeout', 'no worker became free before the job deadline', 5));
    } else if (job.state === 'running') {
      this.#cancel(job, 'deadline', new ProxyError('deadline_exceeded', 'the job ran past its deadline'));
    }
  }

  /**
   * Ends the job for its client; a running one is cancelled on its worker, which may still send a receipt
   * for the part it did (recorded and charged within the grace period).
   */
  #cancel(job: RoutedJob, why: 'client_gone' | 'deadline', error?: ProxyError): void {
    if (job.state === 'queued' || job.worker === undefined) {
      this.#finish(job, error, { outcome: 'cancelled' });
      return;
    }
    job.worker.link.send({ type: 'cancel', jobId: job.id });
    this.#releaseSlot(job);
    this.#endForClient(job, error, why === 'client_gone' ? 'cancelled' : 'failed');
    job.state = 'cancelled';
    clearTimeout(job.timer);
    job.timer = setTimeout(() => {
      if (!job.receiptPending) this.#settleCancelled(job, 0n);
    }, this.options.receiptGraceMs);
  }

  #settleCancelled(job: RoutedJob, spent: bigint): void {
    clearTimeout(job.timer);
    this.#forget(job);
    this.#settle(job, spent);
  }

  /** The terminal step of a job still owed to its client. */
  #finish(
    job: RoutedJob,
    error: ProxyError | undefined,
    options: { spent?: bigint; receipt?: SignedReceipt; outcome?: 'cancelled' } = {},
  ): void {
    if (job.state === 'done' || job.state === 'cancelled') return;
    clearTimeout(job.timer);
    // A job no worker ever saw may be sent again as it is (e.g. after a queue timeout).
    if (job.worker === undefined && job.tried.size === 0) this.#seen.delete(job.id);
    this.#dequeue(job);
    this.#releaseSlot(job);
    this.#forget(job);
    this.#settle(job, options.spent ?? 0n);
    if (options.receipt !== undefined) {
      const seconds = (this.deps.clock.now() - job.admittedAtMs) / 1000;
      this.#metrics?.jobDuration.observe(seconds);
      const previous = this.#serviceSeconds.get(job.model);
      this.#serviceSeconds.set(job.model, previous === undefined ? seconds : previous * 0.9 + seconds * 0.1);
      job.sink.receipt(options.receipt);
    }
    this.#endForClient(job, error, options.outcome ?? (error ? 'failed' : 'completed'));
  }

  #endForClient(
    job: RoutedJob,
    error: ProxyError | undefined,
    outcome: 'completed' | 'cancelled' | 'failed',
  ): void {
    job.state = 'done';
    this.#decrementActive(job.client);
    this.#metrics?.jobs.inc({ outcome, code: error?.code ?? '' });
    if (error !== undefined) job.sink.fail(error);
  }

  #decrementActive(client: string): void {
    const active = (this.#activeByClient.get(client) ?? 1) - 1;
    if (active > 0) this.#activeByClient.set(client, active);
    else this.#activeByClient.delete(client);
  }

  /** Removes the job from every index except the client count (see #endForClient). */
  #forget(job: RoutedJob): void {
    if (this.#jobs.get(job.id) === job) this.#jobs.delete(job.id);
    if (job.worker !== undefined) this.#byWorker.get(job.worker.id)?.delete(job);
  }

  #settle(job: RoutedJob, spent: bigint): void {
    this.deps.credit
      .settle(job.id, spent)
      .catch((error: unknown) =>
        this.deps.log?.error({ jobId: job.id, err: (error as Error).message }, 'could not settle credit'),
      );
  }
}
