import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { WorkerRegistry } from './registry.js';

/** What the metrics read at scrape time. */
export interface MetricsSources {
  registry: WorkerRegistry;
  queueDepths(): Map<string, number>;
  policyAgeSeconds(): number;
  /** Totals of on-chain settlement, when the proxy settles. */
  settlement?(): Promise<{
    signed: bigint;
    charged: bigint;
    earned: bigint;
    paid: bigint;
    unconfirmed: number;
  }>;
  /** When the certificate the proxy serves expires (Unix seconds), when it serves TLS itself. */
  tlsNotAfterSeconds?(): number;
}

const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

/** Prometheus metrics of one proxy, in their own registry (several proxies can live in one process in tests). */
export class ProxyMetrics {
  readonly registry = new Registry();

  readonly jobs = new Counter({
    name: 'cocoon_proxy_jobs_total',
    help: 'Jobs by outcome: completed, cancelled, failed or rejected, with the error code',
    labelNames: ['outcome', 'code'] as const,
    registers: [this.registry],
  });
  readonly refusals = new Counter({
    name: 'cocoon_proxy_refusals_total',
    help:
      'Client requests refused, by reason: bad_signature, stale_request, replayed, rate_limited, too_many_jobs, ' +
      'too_large, too_many_tokens, forged_voucher, invalid_voucher, queue_full, insufficient_credit, and the ' +
      'other error codes',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly failovers = new Counter({
    name: 'cocoon_proxy_failovers_total',
    help: 'Jobs handed to another candidate because a worker died or refused before its first chunk',
    registers: [this.registry],
  });
  readonly receipts = new Counter({
    name: 'cocoon_proxy_receipts_total',
    help: 'Receipts by result: recorded, duplicate, refused',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly charged = new Counter({
    name: 'cocoon_proxy_charged_nanotons_total',
    help: 'Sum of recorded receipt amounts, in nanotons',
    registers: [this.registry],
  });
  readonly admissions = new Counter({
    name: 'cocoon_proxy_worker_admissions_total',
    help: 'Worker hellos by result: admitted or refused',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly dispatchLatency = new Histogram({
    name: 'cocoon_proxy_dispatch_seconds',
    help: 'From admission of a job to its dispatch to a worker (queue wait included)',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly firstChunkLatency = new Histogram({
    name: 'cocoon_proxy_first_chunk_seconds',
    help: 'From dispatch to the first sealed chunk from the worker',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly addedLatency = new Histogram({
    name: 'cocoon_proxy_added_seconds',
    help:
      "Latency the proxy adds to a completed job: from its request's arrival to its answer's end, less its " +
      "worker's turn (from the job's dispatch to its receipt's arrival, the network to the worker included)",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'cocoon_proxy_job_duration_seconds',
    help: 'From admission of a job to its recorded receipt',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  constructor(sources: MetricsSources) {
    const { registry } = this;
    collectDefaultMetrics({ register: registry, prefix: 'cocoon_proxy_' });
    const tlsNotAfter = sources.tlsNotAfterSeconds;
    if (tlsNotAfter !== undefined) {
      new Gauge({
        name: 'cocoon_proxy_tls_certificate_not_after_seconds',
        help: 'When the TLS certificate the proxy serves expires (Unix time): alert well before it',
        registers: [registry],
        collect() {
          this.set(tlsNotAfter());
        },
      });
    }
    if (sources.settlement !== undefined) {
      const settlement = sources.settlement;
      // A scrape collects every gauge at once: they share one summary query.
      let pending: ReturnType<typeof settlement> | undefined;
      const summary = () => {
        pending ??= settlement().finally(() => {
          pending = undefined;
        });
        return pending;
      };
      new Gauge({
        name: 'cocoon_proxy_unsettled_nanotons',
        help: 'Settlement lag: what clients signed but the chain has not charged, and what workers earned but were not paid',
        labelNames: ['kind'] as const,
        registers: [registry],
        async collect() {
          const totals = await summary();
          this.set({ kind: 'charge' }, Number(totals.signed - totals.charged));
          this.set({ kind: 'payout' }, Number(totals.earned - totals.paid));
        },
      });
      new Gauge({
        name: 'cocoon_proxy_settlement_unconfirmed',
        help: 'Settlement messages the chain has not confirmed yet (in flight, waiting out a bounce, or sent again)',
        registers: [registry],
        async collect() {
          this.set((await summary()).unconfirmed);
        },
      });
    }
    new Gauge({
      name: 'cocoon_proxy_workers',
      help: 'Admitted workers by state: serving or draining',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const workers = sources.registry.all();
        const draining = workers.filter((worker) => worker.draining).length;
        this.set({ state: 'serving' }, workers.length - draining);
        this.set({ state: 'draining' }, draining);
      },
    });
    new Gauge({
      name: 'cocoon_proxy_worker_slots',
      help: 'Job slots over admitted workers: capacity and in_flight',
      labelNames: ['kind'] as const,
      registers: [registry],
      collect() {
        const workers = sources.registry.all();
        this.set(
          { kind: 'capacity' },
          workers.reduce((sum, worker) => sum + worker.load.capacity, 0),
        );
        this.set(
          { kind: 'in_flight' },
          workers.reduce((sum, worker) => sum + worker.inFlight, 0),
        );
      },
    });
    new Gauge({
      name: 'cocoon_proxy_queue_depth',
      help: 'Jobs waiting for a worker, per model',
      labelNames: ['model'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [model, depth] of sources.queueDepths()) this.set({ model }, depth);
      },
    });
    new Gauge({
      name: 'cocoon_proxy_policy_age_seconds',
      help: 'Age of the attestation policy in use (+Inf before the first read)',
      registers: [registry],
      collect() {
        this.set(sources.policyAgeSeconds());
      },
    });
  }
}
