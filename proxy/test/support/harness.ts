import { type AttestationPolicy, randomBytes, toHex } from '@cocoon/shared';
import type { Store } from '@cocoon/shared/store/index';
import { openTestStore as openEmptyTestStore } from '../../../shared/test/support/test-store.js';
import { type CreditSource, fixedAllowance, MemoryCredit } from '../../src/credit.js';
import { type ProxyDb, proxyMigrations } from '../../src/db.js';
import { type PolicySource, StaticPolicySource } from '../../src/policy.js';
import { CocoonProxy, type ProxyOptions } from '../../src/proxy.js';
import type { TlsFiles } from '../../src/tls.js';
import { TestClient } from './test-client.js';
import { TestWorker, type TestWorkerOptions } from './test-worker.js';

export const MODEL = toHex(randomBytes(32));
export const OTHER_MODEL = toHex(randomBytes(32));

export const devPolicy = (overrides: Partial<AttestationPolicy> = {}): AttestationPolicy => ({
  allowDev: true,
  imageHashes: [],
  models: [MODEL, OTHER_MODEL].sort(),
  acceptedTcbStatuses: ['UpToDate'],
  ...overrides,
});

/**
 * One store for a test file (PGlite, or Postgres under COCOON_TEST_DATABASE_URL) with the proxy's tables (a
 * proxy's start migrates again: a no-op). remove() closes it and deletes its data.
 */
export async function openTestStore(): Promise<{ store: Store<ProxyDb>; remove(): Promise<void> }> {
  const store = await openEmptyTestStore<ProxyDb>('proxy');
  await store.migrate(proxyMigrations);
  return { store, remove: () => store.close() };
}

export interface Harness {
  proxy: CocoonProxy;
  credit: CreditSource;
  workerUrl: string;
  client(): TestClient;
  worker(options?: Partial<TestWorkerOptions>): Promise<TestWorker>;
  close(): Promise<void>;
}

/**
 * A real proxy on a random loopback port, with workers and clients that speak the real protocol; over HTTPS
 * and WSS with `tls` (its files, and the CA that workers and clients trust for them).
 */
export async function startHarness(
  store: Store<ProxyDb>,
  {
    tls,
    ...options
  }: Partial<Omit<ProxyOptions, 'store'>> & {
    policySource?: PolicySource;
    tls?: { files: TlsFiles; ca: Buffer; fetch: typeof globalThis.fetch };
  } = {},
): Promise<Harness> {
  const credit = options.credit ?? new MemoryCredit(fixedAllowance(10n ** 12n));
  const proxy = await CocoonProxy.start(
    { policySource: new StaticPolicySource(devPolicy()), ...options, credit, store },
    { host: '127.0.0.1', port: 0, ...(tls ? { tls: tls.files } : {}) },
  );
  const workerUrl = `${proxy.url.replace('http', 'ws')}/v1/worker`;
  const workers: TestWorker[] = [];
  return {
    proxy,
    credit,
    workerUrl,
    client: () => new TestClient(proxy.url, undefined, tls?.fetch),
    async worker(workerOptions = {}) {
      const worker = await TestWorker.connect({
        url: workerUrl,
        models: [{ model: MODEL, pricePerToken: 10n }],
        ...(tls ? { ca: tls.ca } : {}),
        ...workerOptions,
      });
      workers.push(worker);
      return worker;
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      await proxy.close();
    },
  };
}
