/**
 * The benchmark's proxy, in the bench process (throughput phases) or in a process of its own
 * (bench/proxy-process.ts, the memory phase): on loopback over a store, with limits far above the load so
 * that only capacity shows, and credit reservations in memory or leased from the store as `cocoon-proxy`
 * keeps them.
 */
import { randomBytes, toHex } from '@cocoon/shared';
import type { Store } from '@cocoon/shared/store/index';
import { fixedAllowance, MemoryCredit, StoreCredit } from '../src/credit.js';
import type { ProxyDb } from '../src/db.js';
import { StaticPolicySource } from '../src/policy.js';
import { CocoonProxy } from '../src/proxy.js';

export const CREDITS = ['memory', 'store'] as const;
export type Credit = (typeof CREDITS)[number];

/** Starts the proxy over `store`, trusting one random model name (returned with it). */
export async function startBenchProxy(
  store: Store<ProxyDb>,
  credit: Credit,
): Promise<{ proxy: CocoonProxy; model: string }> {
  const model = toHex(randomBytes(32));
  const proxy = await CocoonProxy.start(
    {
      store,
      policySource: new StaticPolicySource({
        allowDev: true,
        imageHashes: [],
        models: [model],
        acceptedTcbStatuses: ['UpToDate'],
      }),
      credit:
        credit === 'store'
          ? new StoreCredit(store.db, fixedAllowance(10n ** 18n))
          : new MemoryCredit(fixedAllowance(10n ** 18n)),
      limits: {
        maxQueuePerModel: 10_000,
        maxJobsPerClient: 10_000,
        clientRatePerSecond: 1e6,
        clientBurst: 1_000_000,
        heartbeatTimeoutMs: 600_000,
      },
    },
    { host: '127.0.0.1', port: 0 },
  );
  return { proxy, model };
}
