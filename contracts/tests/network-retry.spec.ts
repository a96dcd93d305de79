import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Address, type ContractProvider, toNano } from '@ton/core';
import { mnemonicNew } from '@ton/crypto';
import { AxiosError, AxiosHeaders } from 'axios';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ChainRpcServer, serveChainRpc } from '../src/chain/local-rpc.js';
import { NetworkChain, type NetworkChainOptions } from '../src/chain/network.js';
import { isTransient, retryAfterMs } from '../src/chain/retry.js';
import { SandboxChain } from '../src/chain/sandbox.js';

/** What the faulty endpoint does to a request instead of (or after) passing it on. */
type Fault =
  /** closes the connection before any answer (ECONNRESET, "socket hang up") */
  | { kind: 'reset' }
  /** answers with this status and a toncenter-style error body */
  | { kind: 'status'; status: number; retryAfter?: string }
  /** never answers: the client's timeout ends the request */
  | { kind: 'hang' }
  /** passes the request on, then closes the connection before the answer */
  | { kind: 'lose-answer' };

interface FaultyRpc {
  url: string;
  /** The JSON-RPC method of every request that came in, in order, with when it came. */
  seen: { method: string; at: number }[];
  /** The next `times` requests (of `method` only, if named) meet `fault`. */
  inject(fault: Fault, times: number, method?: string): void;
  reset(): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A loopback toncenter endpoint in front of `upstream` (the local chain's RPC) that fails on request. */
async function serveFaultyRpc(upstream: string): Promise<FaultyRpc> {
  let plan: { fault: Fault; left: number; method?: string } | undefined;
  const seen: FaultyRpc['seen'] = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const method = String((JSON.parse(body) as { method: unknown }).method);
    seen.push({ method, at: performance.now() });
    let fault: Fault | undefined;
    if (plan && plan.left > 0 && (plan.method === undefined || plan.method === method)) {
      plan.left -= 1;
      fault = plan.fault;
    }
    if (fault?.kind === 'reset') return void req.socket.destroy();
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'status') {
      const retryAfter = fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter };
      res
        .writeHead(fault.status, { 'content-type': 'application/json', ...retryAfter })
        .end(JSON.stringify({ ok: false, error: `injected ${fault.status}`, code: fault.status }));
      return;
    }
    const answer = await fetch(upstream, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await answer.text();
    if (fault?.kind === 'lose-answer') return void req.socket.destroy();
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
  });
  // as in local-rpc.ts: idle keep-alive sockets are the client's to close, so no reset comes unplanned
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/v2/jsonRPC`,
    seen,
    inject: (fault, times, method) => {
      plan = { fault, left: times, method };
    },
    reset: () => {
      plan = undefined;
      seen.length = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

let chain: SandboxChain;
let rpc: ChainRpcServer;
let faulty: FaultyRpc;
let remote: NetworkChain;

const ATTEMPTS = 3;
const options = async (extra: Partial<NetworkChainOptions> = {}): Promise<NetworkChainOptions> => ({
  network: 'sandbox',
  endpoint: faulty.url,
  mnemonic: await mnemonicNew(24),
  pollIntervalMs: 20,
  confirmTimeoutMs: 10_000,
  retryAttempts: ATTEMPTS,
  retryBaseDelayMs: 1,
  retryMaxDelayMs: 2_000,
  ...extra,
});

/** A contract at an address, read through the provider `open()` gives it. */
const walletAt = (address: Address) => ({
  address,
  async getSeqno(provider: ContractProvider): Promise<number> {
    return (await provider.get('seqno', [])).stack.readNumber();
  },
  async getMissing(provider: ContractProvider): Promise<unknown> {
    return provider.get('no_such_method', []);
  },
});

const count = (method: string) => faulty.seen.filter((request) => request.method === method).length;
const freshAddress = () => new Address(0, randomBytes(32));

beforeAll(async () => {
  chain = await SandboxChain.open();
  rpc = await serveChainRpc(chain, { port: 0 });
  faulty = await serveFaultyRpc(rpc.url);
  remote = await NetworkChain.connect(await options());
  await chain.transfer({ to: remote.wallet, value: toNano('10'), bounce: false });
  // its first send deploys the wallet, so its get methods run
  await remote.transfer({ to: chain.wallet, value: toNano('1') });
});

beforeEach(() => faulty?.reset());

afterAll(async () => {
  await faulty?.close();
  await rpc?.close();
  await chain?.close();
});

describe('NetworkChain over a toncenter endpoint that fails transiently', () => {
  it.each<[string, Fault]>([
    ['a reset connection', { kind: 'reset' }],
    ['a 500', { kind: 'status', status: 500 }],
    ['a 503', { kind: 'status', status: 503 }],
    ['a 429 with Retry-After: 0', { kind: 'status', status: 429, retryAfter: '0' }],
  ])('retries a read past %s and returns what the chain holds', async (_, fault) => {
    faulty.inject(fault, ATTEMPTS - 1);
    expect(await remote.getBalance(remote.wallet)).toBe(await chain.getBalance(remote.wallet));
    expect(faulty.seen).toHaveLength(ATTEMPTS);
  });

  it('retries a request that got no answer within its timeout', async () => {
    const hasty = await NetworkChain.connect(await options({ requestTimeoutMs: 1_000 }));
    faulty.inject({ kind: 'hang' }, 1);
    expect(await hasty.isDeployed(remote.wallet)).toBe(true);
    expect(faulty.seen).toHaveLength(2);
  });

  it("retries the get methods of open()ed contracts, the wallet's own and history reads", async () => {
    const wallet = remote.open(walletAt(remote.wallet));
    faulty.inject({ kind: 'reset' }, ATTEMPTS - 1, 'runGetMethod');
    expect(await wallet.getSeqno()).toBe(1);
    expect(count('runGetMethod')).toBe(ATTEMPTS);

    faulty.reset();
    faulty.inject({ kind: 'status', status: 502 }, ATTEMPTS - 1, 'getTransactions');
    const history = await remote.transactionsSince(remote.wallet, undefined, 10);
    expect(history.map((tx) => tx.lt)).toEqual(chain.history(remote.wallet).map((tx) => tx.lt));
    expect(count('getTransactions')).toBe(ATTEMPTS);
  });

  it.each<[string, Fault]>([
    ['its connection was reset', { kind: 'reset' }],
    // the retried copy reaches the wallet, which refuses it: the seqno had moved
    ['its answer was lost', { kind: 'lose-answer' }],
  ])('retries a send whose %s, and the message lands once', async (_, fault) => {
    const to = freshAddress();
    const seqno = await remote.open(walletAt(remote.wallet)).getSeqno();
    faulty.inject(fault, 1, 'sendBoc');
    await remote.transfer({ to, value: toNano('0.5'), bounce: false });
    expect(count('sendBoc')).toBe(2);
    expect(await remote.open(walletAt(remote.wallet)).getSeqno()).toBe(seqno + 1);
    expect(await chain.getBalance(to)).toBe(toNano('0.5'));
  });

  it('gives up after the configured attempts with the error of the last', async () => {
    faulty.inject({ kind: 'status', status: 500 }, Number.POSITIVE_INFINITY);
    const failed = await remote.getBalance(remote.wallet).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(AxiosError);
    expect((failed as AxiosError).response?.status).toBe(500);
    expect(faulty.seen).toHaveLength(ATTEMPTS);

    faulty.reset();
    faulty.inject({ kind: 'reset' }, Number.POSITIVE_INFINITY);
    await expect(remote.isDeployed(remote.wallet)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(faulty.seen).toHaveLength(ATTEMPTS);
  });

  it('does not retry a 400, a get method that exits with an error, or a message the wallet refuses', async () => {
    faulty.inject({ kind: 'status', status: 400 }, Number.POSITIVE_INFINITY);
    await expect(remote.getBalance(remote.wallet)).rejects.toMatchObject({ response: { status: 400 } });
    expect(faulty.seen).toHaveLength(1);

    faulty.reset();
    await expect(remote.open(walletAt(remote.wallet)).getMissing()).rejects.toThrow(/exit_code/);
    expect(count('runGetMethod')).toBe(1);

    faulty.reset();
    // an empty wallet cannot pay for its own deployment: the endpoint answers 500 "not accepted"
    const stranger = await NetworkChain.connect(await options());
    await expect(stranger.transfer({ to: chain.wallet, value: toNano('1') })).rejects.toMatchObject({
      response: { status: 500 },
    });
    expect(count('sendBoc')).toBe(1);
  });

  it('waits as long as Retry-After asks, and gives up at once when it asks for more than the longest wait', async () => {
    faulty.inject({ kind: 'status', status: 429, retryAfter: '1' }, 1);
    expect(await remote.getBalance(remote.wallet)).toBe(await chain.getBalance(remote.wallet));
    const [limited, retried] = faulty.seen;
    expect(faulty.seen).toHaveLength(2);
    // a lower bound: the retry cannot come sooner however slow the machine
    expect((retried?.at ?? 0) - (limited?.at ?? 0)).toBeGreaterThanOrEqual(1_000);

    faulty.reset();
    faulty.inject({ kind: 'status', status: 429, retryAfter: '60' }, 1);
    await expect(remote.getBalance(remote.wallet)).rejects.toMatchObject({ response: { status: 429 } });
    expect(faulty.seen).toHaveLength(1);
  });
});

describe('transient errors and Retry-After', () => {
  const answered = (status: number, headers: Record<string, string> = {}, data: unknown = '') =>
    new AxiosError('failed', 'ERR_BAD_RESPONSE', undefined, undefined, {
      status,
      statusText: '',
      data,
      headers: new AxiosHeaders(headers),
      config: { headers: new AxiosHeaders() },
    });

  it('tells passing failures from answers a retry would repeat', () => {
    expect(isTransient(new AxiosError('socket hang up', 'ECONNRESET'))).toBe(true);
    expect(isTransient(new AxiosError('timeout of 10ms exceeded', 'ECONNABORTED'))).toBe(true);
    expect(isTransient(new AxiosError('canceled', 'ERR_CANCELED'))).toBe(false);
    expect(isTransient(answered(429))).toBe(true);
    expect(isTransient(answered(504))).toBe(true);
    expect(isTransient(answered(404))).toBe(false);
    expect(isTransient(new Error('Unable to execute get method. Got exit_code: 11'))).toBe(false);
    const refused = JSON.stringify({
      ok: false,
      error:
        'LITE_SERVER_UNKNOWN: cannot apply external message to current state : External message was not accepted',
      code: 500,
    });
    expect(isTransient(answered(500, {}, refused))).toBe(false);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(answered(429, { 'retry-after': '2' }), now)).toBe(2_000);
    expect(retryAfterMs(answered(503, { 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now)).toBe(3_000);
    expect(retryAfterMs(answered(429, { 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(retryAfterMs(answered(429), now)).toBeUndefined();
  });
});
