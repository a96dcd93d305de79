// Fault tests' pieces: a real proxy in this process (a test store, a dev policy for one model) and
// worker processes on the fake engine that a test can SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import {
  CocoonProxy,
  type CreditSource,
  fixedAllowance,
  MemoryCredit,
  type ProxyDb,
  type ProxyLimits,
  StaticPolicySource,
} from '@cocoon/proxy';
import { type AttestationPolicy, generateSigningKeyPair, randomBytes, toHex } from '@cocoon/shared';
import type { z } from 'zod';
import { openTestStore } from '../../../shared/test/support/test-store.js';

export { waitFor } from '../../../proxy/test/support/wait.js';

// node itself runs the entry with tsx's loader: a `tsx` wrapper process would outlive a SIGKILL sent to it
const tsxLoader = new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const workerEntry = new URL('./faults-worker.ts', import.meta.url).pathname;

export const fakeModel = (): string => toHex(randomBytes(32));
export const freshPayoutAddress = (): string => `0:${toHex(generateSigningKeyPair().publicKey)}`;

/** What a local network's clients trust: dev attestations of workers serving `model`. */
export const devPolicy = (model: string): AttestationPolicy => ({
  allowDev: true,
  imageHashes: [],
  models: [model],
  acceptedTcbStatuses: ['UpToDate'],
});

export interface LocalProxy {
  proxy: CocoonProxy;
  credit: CreditSource;
  close(): Promise<void>;
}

/**
 * A real proxy on a loopback port with a test store (PGlite, or Postgres under COCOON_TEST_DATABASE_URL) and a
 * fixed line of credit.
 */
export async function startLocalProxy(
  model: string,
  options: { limits?: z.input<typeof ProxyLimits>; allowance?: bigint } = {},
): Promise<LocalProxy> {
  const store = await openTestStore<ProxyDb>('faults-proxy');
  const credit = new MemoryCredit(fixedAllowance(options.allowance ?? 10n ** 15n));
  const proxy = await CocoonProxy.start(
    {
      store,
      credit,
      policySource: new StaticPolicySource(devPolicy(model)),
      ...(options.limits ? { limits: options.limits } : {}),
    },
    { host: '127.0.0.1', port: 0 },
  );
  return {
    proxy,
    credit,
    async close() {
      await proxy.close();
      await store.close();
    },
  };
}

/** A worker process (the real runtime on the fake engine) serving `model` through `proxyUrl`. */
export class WorkerProcess {
  output = '';
  private constructor(
    readonly child: ChildProcess,
    readonly payoutAddress: string,
  ) {}

  static start(options: { proxyUrl: string; model: string; tokenDelayMs: number }): WorkerProcess {
    const payoutAddress = freshPayoutAddress();
    const child = spawn(process.execPath, ['--import', tsxLoader, workerEntry], {
      cwd: tmpdir(),
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'warn',
        PROXY_URL: options.proxyUrl,
        WORKER_PAYOUT_ADDRESS: payoutAddress,
        WORKER_ATTESTATION: 'dev',
        FAKE_MODEL: options.model,
        FAKE_TOKEN_DELAY_MS: String(options.tokenDelayMs),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const worker = new WorkerProcess(child, payoutAddress);
    const keep = (data: Buffer) => {
      worker.output += String(data);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    return worker;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` and waits (bounded) for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 20_000): Promise<void> {
    if (!this.alive) return;
    const exited = once(this.child, 'exit');
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}
