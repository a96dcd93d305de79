// Node-only by nature: an HTTP(S) server and the shared SQL store.
import { createServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type Clock, MAX_SEALED_JOB_BYTES, systemClock } from '@cocoon/shared';
import type { Logger } from '@cocoon/shared/log';
import type { Store } from '@cocoon/shared/store/index';
import { z } from 'zod';
import type { CreditSource } from './credit.js';
import { type ProxyDb, proxyMigrations } from './db.js';
import { createHttpApi } from './http-api.js';
import { Ledger } from './ledger.js';
import { ProxyMetrics } from './metrics.js';
import { PolicyKeeper, type PolicySource } from './policy.js';
import { RateLimiter } from './rate-limit.js';
import { WorkerRegistry } from './registry.js';
import { JobRouter } from './router.js';
import { SettlementOutbox } from './settlement/outbox.js';
import type { SettlementChain } from './settlement/port.js';
import { SettlementSettings } from './settlement/settings.js';
import { StateAnchor } from './settlement/state-anchor.js';
import { VoucherBook } from './settlement/vouchers.js';
import { readTls, reloadTlsOnChange, type TlsFiles } from './tls.js';
import { WorkerEndpoint } from './worker-endpoint.js';

const ms = z.number().int().positive();

/** Every limit of a proxy, with defaults for a small public node. */
export const ProxyLimits = z.object({
  /** Refuse to admit workers and route jobs on a policy older than this. */
  policyMaxAgeMs: ms.default(10 * 60_000),
  policyRefreshMs: ms.default(60_000),
  /** A worker silent for this long is dropped (workers send heartbeats well within it). */
  heartbeatTimeoutMs: ms.default(30_000),
  helloTimeoutMs: ms.default(10_000),
  maxQueuePerModel: z.number().int().nonnegative().default(64),
  maxJobsPerClient: z.number().int().positive().default(16),
  /** The largest completion budget (maxTokens) a job may ask for: a context longer than any model's. */
  maxTokensPerJob: z.number().int().positive().default(131_072),
  clientRatePerSecond: z.number().positive().default(20),
  clientBurst: z.number().int().positive().default(40),
  /**
   * Client API requests per second from one network (an IPv4 address or IPv6 /64), checked before any
   * signature: client keys cost nothing to make, addresses do.
   */
  addressRatePerSecond: z.number().positive().default(100),
  addressBurst: z.number().int().positive().default(200),
  /** Behind a reverse proxy (TLS): count requests against the address it appends to X-Forwarded-For. */
  trustForwardedFor: z.boolean().default(false),
  jobDeadlineMs: ms.default(10 * 60_000),
  receiptGraceMs: ms.default(30_000),
  maxJobLifetimeMs: ms.default(60 * 60_000),
  maxBodyBytes: z.number().int().positive().default(MAX_SEALED_JOB_BYTES),
  maxWorkerMessageBytes: z
    .number()
    .int()
    .positive()
    .default(16 * 1024 * 1024),
});
export type ProxyLimits = z.output<typeof ProxyLimits>;

export interface ProxyOptions {
  /** The shared store; the proxy applies its own migration set (`proxy`). */
  store: Store<ProxyDb>;
  policySource: PolicySource;
  credit: CreditSource;
  limits?: z.input<typeof ProxyLimits>;
  /** On-chain settlement: vouchers from clients, charges and payouts through the outbox. */
  settlement?: {
    chain: SettlementChain;
    /** The proxy's Ed25519 key, the one its Proxy contract holds: it signs worker payouts. */
    secretKey: Uint8Array;
    settings?: z.input<typeof SettlementSettings>;
  };
  clock?: Clock;
  log?: Logger;
}

export const WORKER_PATH = '/v1/worker';

export interface ProxyListen {
  host: string;
  port: number;
  /** Serve HTTPS (and WSS for workers) with these PEM files, reloaded when they change. */
  tls?: TlsFiles;
}

/** A running proxy: the client HTTP API and the worker WebSocket on one port. */
export class CocoonProxy {
  private constructor(
    readonly server: HttpServer | HttpsServer,
    readonly registry: WorkerRegistry,
    readonly router: JobRouter,
    readonly ledger: Ledger,
    readonly policy: PolicyKeeper,
    readonly metrics: ProxyMetrics,
    private readonly endpoint: WorkerEndpoint,
    private readonly timers: NodeJS.Timeout[],
    /** The settlement outbox, when the proxy settles on-chain. */
    readonly settlement: SettlementOutbox | undefined,
    /** Records the settlement state hash on the Proxy contract, when the proxy settles on-chain. */
    readonly stateAnchor: StateAnchor | undefined,
    private readonly credit: CreditSource,
    /** Stops watching the TLS files, when serving HTTPS. */
    private readonly stopTlsReload: (() => void) | undefined,
  ) {}

  /**
   * Migrates the store, checks it against the state hash on the Proxy contract when settling (throws
   * StateRollbackError for a rolled-back database), reads the policy once (fails if it cannot), and listens.
   */
  static async start(options: ProxyOptions, listen: ProxyListen): Promise<CocoonProxy> {
    const limits = ProxyLimits.parse(options.limits ?? {});
    // Before anything else: a certificate that does not load is a mistake to report at once.
    const tls = listen.tls && (await readTls(listen.tls));
    /** The served certificate's expiry, for the metric: a reload replaces it. */
    let tlsNotAfterSeconds = tls?.notAfterSeconds ?? 0;
    const clock = options.clock ?? systemClock;
    const { log, store, credit } = options;
    await store.migrate(proxyMigrations);
    const settlementSettings = SettlementSettings.parse(options.settlement?.settings ?? {});
    let stateAnchor: StateAnchor | undefined;
    if (options.settlement !== undefined) {
      stateAnchor = new StateAnchor({
        db: store.db,
        chain: options.settlement.chain,
        intervalMs: settlementSettings.stateIntervalMs,
        tickMs: settlementSettings.tickMs,
        clock,
        ...(log ? { log: log.child({ part: 'state-anchor' }) } : {}),
      });
      // before anything moves money or credit from this database
      await stateAnchor.verify();
    }
    // no job runs longer than this: credit a dead proxy held that long belongs to no running job
    const staleAfterMs = limits.jobDeadlineMs + limits.receiptGraceMs;
    const recovered = await credit.recover?.(staleAfterMs);
    if (recovered) log?.info({ leases: recovered }, 'released credit leases of proxies that stopped');
    const policy = new PolicyKeeper(
      options.policySource,
      clock,
      { maxAgeMs: limits.policyMaxAgeMs, refreshMs: limits.policyRefreshMs },
      log,
    );
    await policy.start();
    const registry = new WorkerRegistry(
      policy,
      clock,
      { heartbeatTimeoutMs: limits.heartbeatTimeoutMs },
      log,
    );
    policy.onRefresh(() => void registry.reverifyAll());
    const ledger = new Ledger(store.db);
    const router = new JobRouter(
      {
        registry,
        policy,
        credit,
        ledger,
        rateLimiter: new RateLimiter(clock, {
          perSecond: limits.clientRatePerSecond,
          burst: limits.clientBurst,
        }),
        clock,
        ...(log ? { log } : {}),
      },
      limits,
    );
    registry.setListener(router);
    let vouchers: VoucherBook | undefined;
    let settlement: SettlementOutbox | undefined;
    if (options.settlement !== undefined) {
      const { chain, secretKey } = options.settlement;
      vouchers = new VoucherBook(store.db, chain, clock);
      settlement = new SettlementOutbox({
        db: store.db,
        chain,
        proxySecretKey: secretKey,
        settings: settlementSettings,
        clock,
        ...(log ? { log: log.child({ part: 'settlement' }) } : {}),
      });
    }
    const outbox = settlement;
    const metrics = new ProxyMetrics({
      registry,
      queueDepths: () => router.queueDepths(),
      policyAgeSeconds: () => policy.ageMs() / 1000,
      ...(outbox ? { settlement: () => outbox.summary() } : {}),
      ...(tls ? { tlsNotAfterSeconds: () => tlsNotAfterSeconds } : {}),
    });
    router.setMetrics(metrics);

    const app = createHttpApi({
      registry,
      router,
      ledger,
      policy,
      metrics,
      clock,
      maxBodyBytes: limits.maxBodyBytes,
      addressLimit: {
        limiter: new RateLimiter(clock, {
          perSecond: limits.addressRatePerSecond,
          burst: limits.addressBurst,
        }),
        trustForwardedFor: limits.trustForwardedFor,
      },
      ...(vouchers ? { vouchers } : {}),
      ...(log ? { log } : {}),
    });
    const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, app) : createServer(app);
    const endpoint = new WorkerEndpoint(
      server,
      registry,
      router,
      {
        path: WORKER_PATH,
        helloTimeoutMs: limits.helloTimeoutMs,
        maxMessageBytes: limits.maxWorkerMessageBytes,
        onAdmission: (result) => metrics.admissions.inc({ result }),
      },
      log,
    );
    const sweeper = setInterval(
      () => registry.sweep(),
      Math.max(100, Math.floor(limits.heartbeatTimeoutMs / 4)),
    );
    const timers = [sweeper];
    // Credit held by a proxy that died (this one before a restart, or another on the same database) is
    // released once no job of that proxy can still be running.
    const recover = credit.recover?.bind(credit);
    if (recover !== undefined) {
      const recovery = setInterval(() => {
        recover(staleAfterMs).then(
          (released) => {
            if (released) log?.warn({ leases: released }, 'released credit leases of proxies that stopped');
          },
          (error: unknown) =>
            log?.warn({ err: error }, 'releasing stale credit leases failed; it runs again'),
        );
      }, staleAfterMs);
      timers.push(recovery);
    }
    for (const timer of timers) timer.unref();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(listen.port, listen.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      for (const timer of timers) clearInterval(timer);
      policy.stop();
      await endpoint.close();
      throw error;
    }
    settlement?.start();
    stateAnchor?.start();
    const stopTlsReload =
      listen.tls &&
      reloadTlsOnChange(server as HttpsServer, listen.tls, {
        ...(log ? { log: log.child({ part: 'tls' }) } : {}),
        onReload: (material) => {
          tlsNotAfterSeconds = material.notAfterSeconds;
        },
      });
    log?.info(
      {
        address: server.address(),
        ...(tls ? { tls: { validTo: tls.validTo, fingerprint: tls.fingerprint } } : {}),
      },
      'proxy listening',
    );
    return new CocoonProxy(
      server,
      registry,
      router,
      ledger,
      policy,
      metrics,
      endpoint,
      timers,
      settlement,
      stateAnchor,
      credit,
      stopTlsReload,
    );
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Base URL for clients; workers dial `ws://…/v1/worker` (`wss://` over TLS) on the same port. */
  get url(): string {
    const { address, port, family } = this.server.address() as AddressInfo;
    const scheme = this.server instanceof HttpsServer ? 'https' : 'http';
    return `${scheme}://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  }

  /**
   * Stops accepting, closes worker links (their jobs fail over or end) and the HTTP server, then gives back
   * the credit its jobs held.
   */
  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.stopTlsReload?.();
    await this.settlement?.stop();
    await this.stateAnchor?.stop();
    this.policy.stop();
    await this.endpoint.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.credit.close?.();
  }
}
