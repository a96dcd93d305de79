import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  AnswerEvent,
  CHUNK_PADDING_FLOOR,
  ChunkOpener,
  checkReceipt,
  DevAttestor,
  fromHex,
  fromUtf8,
  generateSigningKeyPair,
  generateWorkerKeyPair,
  type JobHeader,
  ModelOffer,
  PROTOCOL_VERSION,
  padmeLength,
  randomBytes,
  requestHash,
  SealedJob,
  sealJob,
  sha256,
  systemClock,
  toHex,
  unixSeconds,
  utf8,
  verifyAttestation,
  verifyOffers,
  verifyPayoutAddress,
  WorkerToProxy,
} from '@cocoon/shared';
import { createLogger } from '@cocoon/shared/log';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { WorkerIdentity } from '../../src/node/identity.js';
import { ProxyLink } from '../../src/node/link.js';
import { FakeEngine } from '../../src/testing/fake-engine.js';

const model = toHex(sha256(utf8('fake model')));
const offer = ModelOffer.parse({
  model,
  name: 'fake',
  pricePerToken: '20',
  priceCoefficient: 10_000,
  contextSize: 4096,
});
const client = generateSigningKeyPair();
const log = createLogger('test', 'silent');

/** A stand-in proxy on loopback: records what the worker sends and lets the test send it jobs. */
async function fakeProxy() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1/worker' });
  await once(server, 'listening');
  const received: WorkerToProxy[] = [];
  const raw: string[] = [];
  const waiters: { match: (m: WorkerToProxy) => boolean; resolve: (m: WorkerToProxy) => void }[] = [];
  let socket: WebSocket | undefined;
  server.on('connection', (ws) => {
    socket = ws;
    ws.on('message', (data) => {
      raw.push(String(data));
      const message = WorkerToProxy.parse(JSON.parse(String(data)));
      received.push(message);
      for (const waiter of waiters.filter((w) => w.match(message))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    });
  });
  const next = <T extends WorkerToProxy['type']>(
    type: T,
    match: (m: Extract<WorkerToProxy, { type: T }>) => boolean = () => true,
  ) =>
    new Promise<Extract<WorkerToProxy, { type: T }>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} within 10 s`)), 10_000);
      waiters.push({
        match: (m) => m.type === type && match(m as never),
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as never);
        },
      });
    });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    raw,
    next,
    send: (message: unknown) => socket?.send(JSON.stringify(message)),
    dropConnection: () => socket?.terminate(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startWorker(options: { tokenDelayMs?: number; lifetimeSeconds?: number } = {}) {
  const proxy = await fakeProxy();
  const engine = new FakeEngine({
    models: [{ id: model, parallelJobs: 2 }],
    tokenDelayMs: options.tokenDelayMs ?? 0,
  });
  const identity = await WorkerIdentity.create({
    attestor: new DevAttestor(),
    models: [model],
    lifetimeSeconds: options.lifetimeSeconds ?? 3600,
    clock: systemClock,
  });
  const link = new ProxyLink({
    proxyUrl: proxy.url,
    identity,
    engine,
    offers: new Map([[model, offer]]),
    payoutAddress: 'EQD__________________________________________0vo',
    clock: systemClock,
    log,
    heartbeatMs: 100,
    minBackoffMs: 50,
    maxBackoffMs: 200,
  });
  cleanups.push(proxy.close, () => link.close());
  link.start();
  const hello = await proxy.next('hello');
  proxy.send({ type: 'welcome', workerId: 'w-1' });
  return { proxy, link, identity, hello };
}

async function sealFor(hpkePublicKey: string, content: string, maxTokens = 64) {
  const header: JobHeader = {
    v: PROTOCOL_VERSION,
    jobId: toHex(randomBytes(16)),
    model,
    client: toHex(client.publicKey),
    maxTokens,
    maxCost: 1_000_000n,
    expiresAt: unixSeconds() + 60,
  };
  const request = utf8(JSON.stringify({ messages: [{ role: 'user', content }] }));
  return { header, ...(await sealJob(header, request, [fromHex(hpkePublicKey)])) };
}

describe('ProxyLink', () => {
  it('says hello with an attestation that verifies, and serves a sealed job end to end', async () => {
    const { proxy, hello } = await startWorker();
    const attestation = await verifyAttestation(
      hello.bundle as never,
      { allowDev: true, imageHashes: [], models: [model] },
      new Date(),
    );
    expect(hello.models.map((m) => m.model)).toEqual([model]);
    expect(verifyPayoutAddress(hello.payoutAddress, hello.payoutSignature, attestation.signPublicKey)).toBe(
      true,
    );
    expect(verifyOffers(hello.models, hello.offersSignature, attestation.signPublicKey)).toBe(true);

    const { header, sealed, jobKey } = await sealFor(attestation.hpkePublicKey, 'tell me a secret');
    const receiptMessage = proxy.next('receipt', (m) => m.jobId === header.jobId);
    proxy.send({ type: 'job', job: z.encode(SealedJob, sealed) });
    const { receipt: signed } = await receiptMessage;

    const opener = new ChunkOpener(jobKey, header.jobId);
    const events: AnswerEvent[] = [];
    for (const message of proxy.received) {
      if (message.type !== 'chunk') continue;
      const plaintext = await opener.open(message.chunk);
      // Padded (Padmé, at least 64 bytes), so a chunk's size does not tell its tokens' length.
      const json = fromUtf8(plaintext).trimEnd();
      expect(plaintext.length).toBe(padmeLength(utf8(json).length, CHUNK_PADDING_FLOOR));
      events.push(AnswerEvent.parse(JSON.parse(json)));
    }
    opener.finish();
    const end = events.at(-1);
    if (end?.type !== 'end') throw new Error('the answer did not end with usage');
    const receipt = checkReceipt(signed, {
      header,
      worker: {
        workerId: 'w-1',
        attestation,
        bundle: hello.bundle,
        offer,
        load: { activeJobs: 0, capacity: 2 },
      },
      usage: end.usage,
      requestHash: toHex(requestHash(sealed)),
      responseHash: toHex(opener.responseHash()),
    });
    expect(receipt.completionTokens).toBe(end.usage.completionTokens);
    // Text that arrives while a chunk is sealed rides in the next chunk: never more chunks than tokens.
    expect(events.filter((e) => e.type === 'text').length).toBeLessThanOrEqual(end.usage.completionTokens);
    // Nothing the proxy saw holds the prompt.
    expect(proxy.raw.join('\n')).not.toContain('secret');
  });

  it('refuses a job sealed to another worker, and a tampered one, before the model runs', async () => {
    const { proxy } = await startWorker();
    const stranger = await sealFor(toHex((await generateWorkerKeyPair()).publicKey), 'x');
    proxy.send({ type: 'job', job: z.encode(SealedJob, stranger.sealed) });
    expect((await proxy.next('refused', (m) => m.jobId === stranger.header.jobId)).code).toBe('unknown_key');

    const bundle = (proxy.received.find((m) => m.type === 'hello') as { bundle: { hpkePublicKey: string } })
      .bundle;
    const tampered = await sealFor(bundle.hpkePublicKey, 'y');
    const wire = z.encode(SealedJob, tampered.sealed);
    const flipped = { ...wire, header: { ...wire.header, maxTokens: wire.header.maxTokens + 1 } };
    proxy.send({ type: 'job', job: flipped });
    expect((await proxy.next('refused', (m) => m.jobId === tampered.header.jobId)).code).toBe('malformed');
    expect(proxy.received.some((m) => m.type === 'chunk')).toBe(false);
  });

  it('runs a sealed job once: the same job sent again, while running or after, is refused as replayed', async () => {
    const { proxy, hello } = await startWorker({ tokenDelayMs: 20 });
    const bundle = hello.bundle as { hpkePublicKey: string };
    const { header, sealed } = await sealFor(bundle.hpkePublicKey, 'answer me once');
    const job = { type: 'job', job: z.encode(SealedJob, sealed) };
    proxy.send(job);
    await proxy.next('chunk', (m) => m.chunk.jobId === header.jobId);
    proxy.send(job);
    expect((await proxy.next('refused', (m) => m.jobId === header.jobId)).code).toBe('replayed');
    await proxy.next('receipt', (m) => m.jobId === header.jobId);
    proxy.send(job);
    expect((await proxy.next('refused', (m) => m.jobId === header.jobId)).code).toBe('replayed');
    expect(proxy.received.filter((m) => m.type === 'receipt')).toHaveLength(1);
  });

  it('stops generating when the proxy cancels, and heartbeats its load', async () => {
    const { proxy, hello } = await startWorker({ tokenDelayMs: 50 });
    const bundle = hello.bundle as { hpkePublicKey: string };
    const { header, sealed } = await sealFor(bundle.hpkePublicKey, 'a long answer please', 500);
    proxy.send({ type: 'job', job: z.encode(SealedJob, sealed) });
    await proxy.next('chunk');
    expect((await proxy.next('heartbeat', (m) => m.load.activeJobs === 1)).load.capacity).toBe(2);
    proxy.send({ type: 'cancel', jobId: header.jobId });
    const receipt = await proxy.next('receipt', (m) => m.jobId === header.jobId);
    expect(receipt).toBeDefined();
    const chunks = proxy.received.filter((m) => m.type === 'chunk').length;
    expect(chunks).toBeLessThan(30);
  });

  it('reconnects after the connection drops and says hello again', async () => {
    const { proxy } = await startWorker();
    const again = proxy.next('hello');
    proxy.dropConnection();
    expect((await again).type).toBe('hello');
  });

  it('rotates keys with a fresh attestation, keeping the old key only for jobs in flight', async () => {
    const { identity } = await startWorker();
    const oldKey = identity.current.hpke.keyId;
    const running = identity.acquire([oldKey]);
    await identity.rotate();
    expect(identity.current.hpke.keyId).not.toBe(oldKey);
    const alsoRunning = identity.acquire([oldKey]);
    expect(alsoRunning?.keys.hpke.keyId).toBe(oldKey);
    running?.release();
    expect(identity.holdsPrevious).toBe(true);
    alsoRunning?.release();
    expect(identity.holdsPrevious).toBe(false);
    expect(identity.acquire([oldKey])).toBeUndefined();
  });

  it('announces rotated keys with a fresh attestation, its payout address and offers signed by the new key', async () => {
    // 601 s of lifetime with rotation 600 s before the end: the link rotates after a second.
    const { proxy, hello } = await startWorker({ lifetimeSeconds: 601 });
    const rotated = await proxy.next('rotated');
    const attestation = await verifyAttestation(
      rotated.bundle as never,
      { allowDev: true, imageHashes: [], models: [model] },
      new Date(),
    );
    expect(attestation.signPublicKey).not.toBe((hello.bundle as { signPublicKey: string }).signPublicKey);
    expect(verifyPayoutAddress(hello.payoutAddress, rotated.payoutSignature, attestation.signPublicKey)).toBe(
      true,
    );
    expect(verifyOffers(hello.models, rotated.offersSignature, attestation.signPublicKey)).toBe(true);
  });

  it('drains: refuses new jobs, finishes the running one, then closes', async () => {
    const { proxy, link, hello } = await startWorker({ tokenDelayMs: 20 });
    const bundle = hello.bundle as { hpkePublicKey: string };
    const running = await sealFor(bundle.hpkePublicKey, 'job before the drain');
    proxy.send({ type: 'job', job: z.encode(SealedJob, running.sealed) });
    await proxy.next('chunk');
    const drained = link.drain(5_000);
    await proxy.next('draining');
    const late = await sealFor(bundle.hpkePublicKey, 'late job');
    proxy.send({ type: 'job', job: z.encode(SealedJob, late.sealed) });
    expect((await proxy.next('refused', (m) => m.jobId === late.header.jobId)).code).toBe('draining');
    await proxy.next('receipt', (m) => m.jobId === running.header.jobId);
    await drained;
    expect(link.state).toBe('closed');
  });
});
