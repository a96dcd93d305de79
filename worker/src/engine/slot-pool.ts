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
