// Fault tests drive real `cocoon-proxy` processes: a sandbox chain prepared in the process's data folder
// (Root, staked Proxy contract, funded Client contracts), a process that can be SIGKILLed and restarted on
// the same folder, and a bounded wait for it to answer.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import {
  ClientContract,
  DEFAULT_ROOT_PARAMS,
  ensureRoot,
  loadContractCodes,
  rootPolicySource,
  WorkerContract,
} from '@cocoon/contracts';
import { SandboxChain } from '@cocoon/contracts/sandbox';
import {
  type AttestationPolicy,
  generateSigningKeyPair,
  loadConfig,
  type SigningKeyPair,
  toHex,
} from '@cocoon/shared';
import { openStore, type Store } from '@cocoon/shared/store/index';
import { Address } from '@ton/core';
import type { ProxyDb } from '../../src/db.js';
import { startProxyOperator } from '../../src/operator.js';
import { clientContractFor, workerContractFor } from '../../src/settlement/contracts.js';

const proxyBin = new URL('../../bin/cocoon-proxy.js', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

export interface SandboxClientAccount {
  key: SigningKeyPair;
  /** The wallet that owns the Client contract (user-friendly form). */
  owner: string;
  /** The Client contract (user-friendly form). */
  contract: string;
}

export interface PreparedSandbox {
  rootAddress: string;
  policy: AttestationPolicy;
  clients: SandboxClientAccount[];
  /** The Worker contract (raw address) this proxy pays `payoutAddress` through. */
  workerContract(payoutAddress: string): string;
}

/**
 * Deploys into the sandbox chain saved in `dataDir` what a proxy process needs and cannot do itself: the
 * Root (listing `models`), and funded Client contracts. The Proxy contract and its key are the ones
 * `cocoon-proxy` finds there at start (the same operator code makes them).
 */
export async function prepareSandbox(
  dataDir: string,
  options: { models: string[]; clients: number; deposit: bigint },
): Promise<PreparedSandbox> {
  const chain = await SandboxChain.open({ dataDir });
  try {
    const root = await ensureRoot(chain, { owner: chain.wallet, params: DEFAULT_ROOT_PARAMS });
    for (const model of options.models)
      await root.sendSetModel(chain.sender, { modelHash: BigInt(`0x${model}`), priceCoefficient: 10_000 });
    const config = loadConfig({ COCOON_DATA_DIR: dataDir });
    const operator = await startProxyOperator(chain, root, config);
    const clients: SandboxClientAccount[] = [];
    for (let i = 0; i < options.clients; i++) {
      const key = generateSigningKeyPair();
      const contract = chain.open(
        clientContractFor(operator.link, chain.wallet, toHex(key.publicKey), operator.clientCode),
      );
      await contract.sendTopUp(chain.sender, { value: options.deposit });
      clients.push({ key, owner: chain.wallet.toString(), contract: contract.address.toString() });
    }
    const policy = await rootPolicySource(root, { allowDev: true }).read();
    const { worker: workerCode } = await loadContractCodes();
    return {
      rootAddress: root.address.toString(),
      policy,
      clients,
      workerContract: (payout) =>
        workerContractFor(operator.link, Address.parse(payout), workerCode).address.toRawString(),
    };
  } finally {
    await chain.close();
  }
}

/** What the chain says after the run: each Client contract's charged total and deposit, each Worker's paid total. */
export async function readChainTotals(
  dataDir: string,
  clients: string[],
  workerContracts: string[],
): Promise<{ charged: bigint[]; balances: bigint[]; paid: bigint[] }> {
  const chain = await SandboxChain.open({ dataDir });
  try {
    const states = await Promise.all(
      clients.map((c) => chain.open(ClientContract.createFromAddress(Address.parse(c))).getState()),
    );
    const paid = await Promise.all(
      workerContracts.map(async (w) => {
        const address = Address.parse(w);
        if (!(await chain.isDeployed(address))) return 0n;
        return (await chain.open(WorkerContract.createFromAddress(address)).getState()).paidTotal;
      }),
    );
    return { charged: states.map((s) => s.chargedTotal), balances: states.map((s) => s.balance), paid };
  } finally {
    await chain.close();
  }
}

/** Opens the dead (or stopped) proxy's embedded database, runs `read`, and closes it again. */
export async function readProxyDb<T>(
  dataDir: string,
  read: (store: Store<ProxyDb>) => Promise<T>,
): Promise<T> {
  const store = await openStore<ProxyDb>({ dataDir });
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

/** A `cocoon-proxy` process on a fixed loopback port; its log is kept for failure messages. */
export class ProxyProcess {
  output = '';
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static async start(env: Record<string, string>, timeoutMs = 60_000): Promise<ProxyProcess> {
    const child = spawn(process.execPath, [proxyBin], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proxy = new ProxyProcess(child, `http://127.0.0.1:${env.PROXY_PORT}`);
    const keep = (data: Buffer) => {
      proxy.output += String(data);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const deadline = Date.now() + timeoutMs;
    while (!(await proxy.healthy())) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`cocoon-proxy did not come up (exit ${child.exitCode}):\n${proxy.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return proxy;
  }

  async healthy(): Promise<boolean> {
    try {
      return (await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2_000) })).ok;
    } catch {
      return false;
    }
  }

  /** The proxy's Prometheus gauge `name{label}` (undefined when absent). */
  async metric(name: string, label: string): Promise<number | undefined> {
    const text = await (await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${label}}`));
    return line === undefined ? undefined : Number(line.split(' ').at(-1));
  }

  /** Sends `signal` and waits (bounded) for the process to exit; returns its exit code. */
  async stop(signal: NodeJS.Signals, timeoutMs = 30_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = once(this.child, 'exit');
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    return code;
  }
}

export type EndpointFault =
  /** Forwards every call. */
  | 'none'
  /** Answers 500 without forwarding. */
  | 'error'
  /** Forwards, then answers 500 to sendBoc: the message lands though the caller saw a failure. */
  | 'lose-reply'
  /** Holds the call and drops the connection after `hangMs` without forwarding (a timeout). */
  | 'hang'
  /** Forwards after `slowMs`. */
  | 'slow';

/**
 * The toncenter edge with faults: a loopback HTTP server in front of a real JSON-RPC endpoint that records
 * each call (its JSON-RPC method and what it was answered) and fails, hangs or slows calls on demand.
 */
export class FaultyEndpoint {
  fault: EndpointFault = 'none';
  hangMs = 2_000;
  slowMs = 300;
  readonly calls: { method: string; fault: EndpointFault; at: number }[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(upstream: string): Promise<FaultyEndpoint> {
    const server = createHttpServer();
    // longer than any pause in a test: an idle socket closed under a reusing client would be a fault not injected
    server.keepAliveTimeout = 120_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const endpoint = new FaultyEndpoint(server, `http://127.0.0.1:${port}${new URL(upstream).pathname}`);
    server.on('request', (req, res) => void endpoint.#serve(upstream, req, res));
    return endpoint;
  }

  /** Calls of a JSON-RPC method made while `fault` was on. */
  count(method: string, fault?: EndpointFault): number {
    return this.calls.filter((c) => c.method === method && (fault === undefined || c.fault === fault)).length;
  }

  async #serve(upstream: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const fault = this.fault;
    let method = 'unknown';
    try {
      method = String((JSON.parse(body) as { method?: unknown }).method);
    } catch {}
    this.calls.push({ method, fault, at: Date.now() });
    const fail = () =>
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ok: false, error: 'injected fault', code: 500 }));
    if (fault === 'error') return void fail();
    if (fault === 'hang') {
      await new Promise((resolve) => setTimeout(resolve, this.hangMs));
      return void res.destroy();
    }
    if (fault === 'slow') await new Promise((resolve) => setTimeout(resolve, this.slowMs));
    const answer = await fetch(upstream, {
      method: 'POST',
      headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
      body,
    });
    const text = await answer.text();
    if (fault === 'lose-reply' && method === 'sendBoc') return void fail();
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
