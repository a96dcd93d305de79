import type { ChatRequest } from '@cocoon/shared';
import { EngineError, type GenerateOptions, type Generation } from './engine.js';

/** A fixed set of slots (context sequences) handed out first come, first served. */
export class SlotPool<T> {
  readonly size: number;
  private readonly free: T[];
  private readonly waiting: Array<(slot: T) => void> = [];

  constructor(slots: readonly T[]) {
    this.free = [...slots];
    this.size = slots.length;
  }

  get inUse(): number {
    return this.size - this.free.length;
  }

  /** A free slot, waiting for one if needed; rejects with the signal's reason if aborted first. */
  acquire(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise<T>((resolve, reject) => {
      const grant = (granted: T) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(granted);
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(grant), 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  release(slot: T): void {
    const next = this.waiting.shift();
    if (next) {
      next(slot);
      return;
    }
    this.free.push(slot);
  }
}

/** Counts jobs from the moment they are accepted (queued or running), so shutdown can wait for them. */
export class InFlightJobs {
  private running = 0;
  private readonly idleWaiters: Array<() => void> = [];

  get count(): number {
    return this.running;
  }

  async track<T>(job: () => Promise<T>): Promise<T> {
    this.running++;
    try {
      return await job();
    } finally {
      this.running--;
      if (this.running === 0) for (const notify of this.idleWaiters.splice(0)) notify();
    }
  }

  /** Resolves once no job is in flight. */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/**
 * What every engine model shares: a pool of slots (context sequences, or plain numbers for engines without
 * a context), the jobs in flight, and refusing new jobs once closing.
 */
export abstract class PooledEngineModel<Slot> {
  protected readonly slots: SlotPool<Slot>;
  protected readonly jobs = new InFlightJobs();
  #closing = false;

  constructor(slots: readonly Slot[]) {
    this.slots = new SlotPool(slots);
  }

  get parallelJobs(): number {
    return this.slots.size;
  }

  /** Jobs accepted and not finished: running or waiting for a slot. */
  get activeJobs(): number {
    return this.jobs.count;
  }

  generate(request: ChatRequest, options: GenerateOptions = {}): Promise<Generation> {
    if (this.#closing) return Promise.reject(new EngineError('closed', 'the engine is shutting down'));
    return this.jobs.track(() => this.run(request, options));
  }

  /** Takes no new jobs, and resolves once the running ones have ended. */
  protected drain(): Promise<void> {
    this.#closing = true;
    return this.jobs.idle();
  }

  protected abstract run(request: ChatRequest, options: GenerateOptions): Promise<Generation>;
}

/** Slots for engines whose jobs need no per-job state: numbered seats. */
export const numberedSlots = (count: number): number[] => Array.from({ length: count }, (_, slot) => slot);
