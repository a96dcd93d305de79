import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DevAttestor } from '../../src/attestation/dev.js';
import { fromUtf8, sha256, toHex, utf8 } from '../../src/bytes.js';
import { CocoonClient } from '../../src/client/client.js';
import { ClientError } from '../../src/client/errors.js';
import {
  MemoryVoucherStore,
  VoucherMessage,
  VoucherSigner,
  verifyVoucher,
} from '../../src/client/voucher.js';
import { ManualClock } from '../../src/clock.js';
import { generateWorkerKeyPair, type WorkerHpkeKeyPair } from '../../src/crypto/hpke.js';
import { ChunkSealer, openJob, requestHash } from '../../src/crypto/seal.js';
import { jobCost } from '../../src/pricing.js';
import { ChatRequest } from '../../src/protocol/chat.js';
import { verifyRequest } from '../../src/protocol/client-auth.js';
import { SealedJob } from '../../src/protocol/job.js';
import { JobStreamEvent, ModelOffer } from '../../src/protocol/messages.js';
import { signOffers } from '../../src/protocol/worker-statements.js';
import { signReceipt } from '../../src/receipt.js';
import { generateSigningKeyPair } from '../../src/signing.js';

const model = toHex(sha256(utf8('tiny model')));
const clock = new ManualClock(1_800_000_000_000);
const offer: ModelOffer = {
  model,
  name: 'tiny',
  pricePerToken: 20n,
  priceCoefficient: 10_000,
  promptMultiplier: 10_000,
  completionMultiplier: 20_000,
  contextSize: 512,
};

/** A worker that really opens the job and seals its answer; `misbehave` makes it cheat in one way. */
async function makeWorker(workerId: string, misbehave?: 'overcharge' | 'drop_final' | 'foreign_receipt') {
  const hpke: WorkerHpkeKeyPair = await generateWorkerKeyPair();
  const signing = generateSigningKeyPair();
  const bundle = await new DevAttestor().attest({
    hpkePublicKey: toHex(hpke.publicKey),
    signPublicKey: toHex(signing.publicKey),
    models: [model],
    notAfter: clock.now() / 1000 + 3600,
  });
  async function* serve(sealed: SealedJob) {
    const { request, jobKey } = await openJob(sealed, hpke, { clock });
    const chat = ChatRequest.parse(JSON.parse(fromUtf8(request)));
    const words = `echo: ${chat.messages.at(-1)?.content}`.split(' ');
    const sealer = new ChunkSealer(jobKey, sealed.header.jobId);
    for (const word of words) {
      yield await sealer.seal(utf8(JSON.stringify({ type: 'text', text: `${word} ` })), { final: false });
    }
    const usage = { promptTokens: 7, completionTokens: words.length };
    const end = await sealer.seal(utf8(JSON.stringify({ type: 'end', finishReason: 'stop', usage })), {
      final: true,
    });
    if (misbehave !== 'drop_final') yield end;
    const amount = jobCost(usage, offer) + (misbehave === 'overcharge' ? 1n : 0n);
    const receipt = {
      jobId: sealed.header.jobId,
      client: sealed.header.client,
      model,
      ...usage,
      pricePerToken: offer.pricePerToken,
      amount,
      requestHash: toHex(requestHash(sealed)),
      responseHash: misbehave === 'drop_final' ? toHex(new Uint8Array(32)) : toHex(sealer.responseHash()),
      worker: toHex(signing.publicKey),
      time: clock.now() / 1000,
    };
    const signer = misbehave === 'foreign_receipt' ? generateSigningKeyPair() : signing;
    yield signReceipt({ ...receipt, worker: toHex(signer.publicKey) }, signer.secretKey);
  }
  return { workerId, hpke, bundle, offersSignature: signOffers([offer], signing.secretKey), serve };
}

type TestWorker = Awaited<ReturnType<typeof makeWorker>>;

/** The proxy's HTTP surface, as a fetch function: it routes to the first recipient it knows. */
function proxyFetch(
  workers: TestWorker[],
  options: { routeTo?: string; status?: number; listedOffer?: ModelOffer } = {},
): typeof fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    const body = init?.body === undefined ? new Uint8Array() : (init.body as Uint8Array);
    await verifyRequest(
      { method: init?.method ?? 'GET', path: url.pathname + url.search, body },
      init?.headers as never,
      clock.now() / 1000,
    );
    if (options.status !== undefined) {
      return Response.json(
        { error: { code: 'queue_full', message: 'model queue is full' } },
        { status: options.status, headers: { 'retry-after': '3' } },
      );
    }
    if (url.pathname === '/v1/workers') {
      const listing = workers.map((w) => ({
        workerId: w.workerId,
        bundle: w.bundle,
        models: [z.encode(ModelOffer, options.listedOffer ?? offer)],
        offersSignature: w.offersSignature,
        load: { activeJobs: 0, capacity: 4 },
      }));
      return Response.json({ workers: listing });
    }
    const sealed = SealedJob.parse(JSON.parse(fromUtf8(body)));
    const worker = workers.find((w) => sealed.recipients.some((r) => r.keyId === w.hpke.keyId));
    if (worker === undefined) throw new Error('no recipient known');
    const lines: string[] = [
      JSON.stringify({
        type: 'accepted',
        jobId: sealed.header.jobId,
        workerId: options.routeTo ?? worker.workerId,
      }),
    ];
    for await (const item of worker.serve(sealed)) {
      const event = 'boc' in item ? { type: 'receipt', receipt: item } : { type: 'chunk', chunk: item };
      lines.push(JSON.stringify(JobStreamEvent.parse(event)));
    }
    return new Response(`${lines.join('\n')}\n`, { headers: { 'content-type': 'application/x-ndjson' } });
  };
}

const devPolicy = { allowDev: true, imageHashes: [], models: [model] };
const question = { messages: [{ role: 'user' as const, content: 'what is sealed?' }], max_tokens: 16 };

function client(fetchImpl: typeof fetch, policy = devPolicy, maxPricePerToken?: bigint) {
  return new CocoonClient({
    proxyUrl: 'http://proxy.test',
    clientKey: generateSigningKeyPair(),
    policy,
    fetch: fetchImpl,
    clock,
    ...(maxPricePerToken === undefined ? {} : { maxPricePerToken }),
  });
}

describe('CocoonClient', () => {
  it('seals to verified workers, opens the streamed answer and checks the receipt', async () => {
    const workers = [await makeWorker('w1'), await makeWorker('w2')];
    const pieces: string[] = [];
    const result = await client(proxyFetch(workers)).chat(question, { model, onText: (t) => pieces.push(t) });
    expect(result.text).toBe('echo: what is sealed? ');
    expect(pieces.join('')).toBe(result.text);
    expect(result.usage).toEqual({ promptTokens: 7, completionTokens: 4 });
    expect(result.receipt.amount).toBe(jobCost(result.usage, offer));
    expect(result.worker.attestation.secure).toBe(false);
  });

  it.each([
    ['overcharges', 'overcharge', 'receipt_mismatch'],
    ['signs the receipt with a key it was not attested with', 'foreign_receipt', 'receipt_mismatch'],
    ['drops the final chunk', 'drop_final', 'incomplete'],
  ] as const)('refuses a worker that %s', async (_, misbehave, code) => {
    const workers = [await makeWorker('w1', misbehave)];
    await expect(client(proxyFetch(workers)).chat(question, { model })).rejects.toMatchObject({ code });
  });

  it('seals prompts of different lengths to the same size (padded), and the worker reads them as sent', async () => {
    const workers = [await makeWorker('w1')];
    const forward = proxyFetch(workers);
    const sealedSizes: number[] = [];
    const recording: typeof fetch = async (input, init) => {
      if (new URL(String(input)).pathname === '/v1/jobs') {
        const sealed = SealedJob.parse(JSON.parse(fromUtf8(init?.body as Uint8Array)));
        sealedSizes.push(sealed.body.length);
      }
      return forward(input, init);
    };
    for (const content of ['short', 'a post of a few hundred characters '.repeat(20)]) {
      const result = await client(recording).chat(
        { ...question, messages: [{ role: 'user', content }] },
        { model },
      );
      expect(result.text).toBe(`echo: ${content} `);
    }
    expect(sealedSizes).toHaveLength(2);
    expect(sealedSizes[0]).toBe(sealedSizes[1]);
  });

  it('refuses dev workers unless its policy allows them', async () => {
    const workers = [await makeWorker('w1')];
    const strict = client(proxyFetch(workers), { ...devPolicy, allowDev: false });
    await expect(strict.chat(question, { model })).rejects.toMatchObject({
      code: 'no_verified_worker',
      message: expect.stringMatching(/dev/),
    });
  });

  it('refuses a worker whose listed offer is not the one it signed, before sending anything', async () => {
    const workers = [await makeWorker('w1')];
    const cheaper = { ...offer, pricePerToken: offer.pricePerToken - 1n };
    const listed = client(proxyFetch(workers, { listedOffer: cheaper }));
    expect((await listed.workers(model)).refused).toEqual([
      { workerId: 'w1', reason: 'its offers are not signed by its attested key' },
    ]);
    await expect(listed.chat(question, { model })).rejects.toMatchObject({ code: 'no_verified_worker' });
  });

  it('uses no worker dearer than its price ceiling, per token of the dearer kind', async () => {
    const workers = [await makeWorker('w1')];
    // 20 nanotons per token, completion tokens at 2×: 40 per completion token.
    await expect(client(proxyFetch(workers), devPolicy, 39n).chat(question, { model })).rejects.toMatchObject(
      {
        code: 'no_affordable_worker',
        message: expect.stringMatching(/within 39 nanotons per token \(the cheapest asks 40\)/),
      },
    );
    const result = await client(proxyFetch(workers), devPolicy, 40n).chat(question, { model });
    expect(result.receipt.pricePerToken).toBe(20n);
  });

  it('refuses an answer routed to a worker it did not choose', async () => {
    const workers = [await makeWorker('w1')];
    await expect(
      client(proxyFetch(workers, { routeTo: 'intruder' })).chat(question, { model }),
    ).rejects.toMatchObject({ code: 'proxy_error' });
  });

  it('passes on the proxy error, its code and Retry-After', async () => {
    const error = await client(proxyFetch([], { status: 429 }))
      .models()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({
      code: 'proxy_error',
      detail: { status: 429, code: 'queue_full', retryAfterSeconds: 3 },
    });
  });
});

/** A proxy that takes vouchers (checking them as the real one does) and passes the rest on. */
function voucherProxy(inner: typeof fetch, held?: VoucherMessage) {
  const received: VoucherMessage[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    if (url.pathname !== '/v1/vouchers') return inner(input, init);
    if (init?.method === 'GET') {
      const voucher = held ?? received.at(-1);
      return Response.json({ voucher: voucher === undefined ? null : z.encode(VoucherMessage, voucher) });
    }
    const body = init?.body as Uint8Array;
    const client = await verifyRequest(
      { method: 'POST', path: url.pathname, body },
      init?.headers as never,
      clock.now() / 1000,
    );
    const voucher = VoucherMessage.parse(JSON.parse(fromUtf8(body)));
    expect(verifyVoucher(voucher, client)).toBe(true);
    received.push(voucher);
    return Response.json({ total: voucher.total.toString(), metered: voucher.total.toString() });
  };
  return { fetchImpl, received };
}

describe('CocoonClient vouchers', () => {
  const contract = `0:${'ab'.repeat(32)}`;
  const owner = `0:${'cd'.repeat(32)}`;

  it('opens its account with a zero total, then signs each verified receipt into the cumulative total', async () => {
    const workers = [await makeWorker('w1')];
    const proxy = voucherProxy(proxyFetch(workers));
    const store = new MemoryVoucherStore();
    const key = generateSigningKeyPair();
    const paying = new CocoonClient({
      proxyUrl: 'http://proxy.test',
      clientKey: key,
      policy: devPolicy,
      fetch: proxy.fetchImpl,
      clock,
      vouchers: { owner, contract, store },
    });
    const first = await paying.chat(question, { model });
    const second = await paying.chat(question, { model });
    const amount = first.receipt.amount;
    expect(amount).toBeGreaterThan(0n);
    expect(proxy.received.map((v) => v.total)).toEqual([0n, amount, amount + second.receipt.amount]);
    expect(second.voucher).toMatchObject({ contract, total: amount + second.receipt.amount });
    expect((await store.load())?.total).toBe(amount + second.receipt.amount);
  });

  it('does not sign for a receipt it refused', async () => {
    const proxy = voucherProxy(proxyFetch([await makeWorker('w1', 'overcharge')]));
    const store = new MemoryVoucherStore();
    const paying = new CocoonClient({
      proxyUrl: 'http://proxy.test',
      clientKey: generateSigningKeyPair(),
      policy: devPolicy,
      fetch: proxy.fetchImpl,
      clock,
      vouchers: { owner, contract, store },
    });
    await expect(paying.chat(question, { model })).rejects.toMatchObject({ code: 'receipt_mismatch' });
    expect(proxy.received.map((v) => v.total)).toEqual([0n]);
    expect((await store.load())?.total ?? 0n).toBe(0n);
  });

  it('sends an undelivered voucher again before the next job', async () => {
    const workers = [await makeWorker('w1')];
    // the opening voucher goes through; the one after the first job fails
    let calls = 0;
    const inner = voucherProxy(proxyFetch(workers));
    const flaky: typeof fetch = async (input, init) => {
      if (new URL(String(input)).pathname === '/v1/vouchers' && init?.method === 'POST' && ++calls === 2) {
        return Response.json({ error: { code: 'internal', message: 'down' } }, { status: 500 });
      }
      return inner.fetchImpl(input, init);
    };
    const paying = new CocoonClient({
      proxyUrl: 'http://proxy.test',
      clientKey: generateSigningKeyPair(),
      policy: devPolicy,
      fetch: flaky,
      clock,
      vouchers: { owner, contract },
    });
    const first = await paying.chat(question, { model });
    expect(first.voucher?.total).toBe(first.receipt.amount);
    expect(inner.received.map((v) => v.total)).toEqual([0n]);
    const second = await paying.chat(question, { model });
    const total = first.receipt.amount + second.receipt.amount;
    expect(inner.received.map((v) => v.total)).toEqual([0n, first.receipt.amount, total]);
  });

  it('takes over a higher total it signed before from the proxy, and ignores one it did not sign', async () => {
    const workers = [await makeWorker('w1')];
    const key = generateSigningKeyPair();
    const earlier = new VoucherSigner(key.secretKey, owner, contract, new MemoryVoucherStore());
    const lost = await earlier.add(1_000n);
    const restarted = (held: VoucherMessage) => {
      const proxy = voucherProxy(proxyFetch(workers), held);
      const paying = new CocoonClient({
        proxyUrl: 'http://proxy.test',
        clientKey: key,
        policy: devPolicy,
        fetch: proxy.fetchImpl,
        clock,
        vouchers: { owner, contract },
      });
      return { proxy, paying };
    };
    const honest = restarted(lost);
    const result = await honest.paying.chat(question, { model });
    expect(honest.proxy.received.map((v) => v.total)).toEqual([1_000n, 1_000n + result.receipt.amount]);

    const stranger = new VoucherSigner(
      generateSigningKeyPair().secretKey,
      owner,
      contract,
      new MemoryVoucherStore(),
    );
    const forged = restarted(await stranger.add(5_000n));
    const fresh = await forged.paying.chat(question, { model });
    expect(forged.proxy.received.map((v) => v.total)).toEqual([0n, fresh.receipt.amount]);
  });
});
