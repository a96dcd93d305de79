import type { Clock } from '@cocoon/shared';
import type { SummaryJob } from '../summarize/service.js';

/** A long text waiting for its sender to confirm the price (or pay for it in Stars). */
export interface PendingJob {
  id: string;
  userId: number;
  job: SummaryJob;
  estimate: bigint;
  /** Stars an invoice for this job asks. */
  stars: number;
  expiresAt: number;
}

/**
 * Long texts waiting for confirmation, in process memory only: the text is content and is not written
 * anywhere while the user decides; after `ttlMs` it is forgotten.
 */
export class PendingJobs {
  private readonly jobs = new Map<string, PendingJob>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  add(userId: number, job: SummaryJob, estimate: bigint, stars: number): PendingJob {
    this.forgetExpired();
    const pending: PendingJob = {
      id: crypto.randomUUID().replaceAll('-', ''),
      userId,
      job,
      estimate,
      stars,
      expiresAt: this.clock.now() + this.ttlMs,
    };
    this.jobs.set(pending.id, pending);
    return pending;
  }

  /** The user's pending job, unless it expired. */
  get(id: string, userId: number): PendingJob | undefined {
    this.forgetExpired();
    const pending = this.jobs.get(id);
    return pending?.userId === userId ? pending : undefined;
  }

  /** Removes and returns the user's pending job: it runs once. */
  take(id: string, userId: number): PendingJob | undefined {
    const pending = this.get(id, userId);
    if (pending !== undefined) this.jobs.delete(id);
    return pending;
  }

  private forgetExpired(): void {
    const now = this.clock.now();
    for (const [id, pending] of this.jobs) if (pending.expiresAt <= now) this.jobs.delete(id);
  }
}
