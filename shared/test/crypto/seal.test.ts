import { describe, expect, it } from 'vitest';
import { fromBase64, fromUtf8, randomBytes, sha256, toBase64, toHex, utf8 } from '../../src/bytes.js';
import { ManualClock } from '../../src/clock.js';
import { SealError, type SealErrorCode } from '../../src/crypto/errors.js';
import { generateWorkerKeyPair, type WorkerHpkeKeyPair } from '../../src/crypto/hpke.js';
import { ChunkOpener, ChunkSealer, JobKey, openJob, requestHash, sealJob } from '../../src/crypto/seal.js';
import type { JobHeader, SealedChunk, SealedJob } from '../../src/protocol/job.js';

const NOW = 1_800_000_000;
const clock = new ManualClock(NOW * 1000);
const PROMPT = 'SECRET-PROMPT: what is in the box?';

const makeHeader = (overrides: Partial<JobHeader> = {}): JobHeader => ({
  v: 1,
  jobId: toHex(randomBytes(16)),
  model: toHex(randomBytes(32)),
  client: toHex(randomBytes(32)),
  maxTokens: 512,
  maxCost: 1_000_000_000n,
  expiresAt: NOW + 600,
  ...overrides,
});

const workers = await Promise.all([1, 2, 3, 4].map(() => generateWorkerKeyPair()));
const [alice, bob, carol, mallory] = workers as [
  WorkerHpkeKeyPair,
  WorkerHpkeKeyPair,
  WorkerHpkeKeyPair,
  WorkerHpkeKeyPair,
];

async function expectSealError(promise: Promise<unknown> | (() => unknown), code: SealErrorCode) {
  let error: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(SealError);
  expect((error as SealError).code).toBe(code);
  expect((error as SealError).message).not.toContain('SECRET');
}

/** Flips one bit of the decoded bytes at `index` (negative counts from the end). */
const flip = (base64: string, index: number): string => {
  const bytes = fromBase64(base64);
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = (bytes[at] as number) ^ 0x01;
  return toBase64(bytes);
};

const open = (sealed: SealedJob, worker: WorkerHpkeKeyPair) => openJob(sealed, worker, { clock });

async function sealStream(jobKey: JobKey, jobId: string, parts: string[]): Promise<SealedChunk[]> {
  const sealer = new ChunkSealer(jobKey, jobId);
  const chunks: SealedChunk[] = [];
  for (const [i, part] of parts.entries()) {
    chunks.push(await sealer.seal(utf8(part), { final: i === parts.length - 1 }));
  }
  return chunks;
}

async function openAll(opener: ChunkOpener, chunks: SealedChunk[]): Promise<string[]> {
  const out: string[] = [];
  for (const chunk of chunks) out.push(fromUtf8(await opener.open(chunk)));
  return out;
}

describe('sealJob / openJob', () => {
  it('round-trips to one worker, and both sides hold the same job key', async () => {
    const header = makeHeader();
    const { sealed, jobKey } = await sealJob(header, utf8(PROMPT), [alice.publicKey]);
    expect(sealed.header).toEqual(header);
    expect(sealed.recipients.map((r) => r.keyId)).toEqual([alice.keyId]);
    expect(sealed.body).not.toContain(toBase64(utf8('SECRET')));
    const opened = await open(sealed, alice);
    expect(fromUtf8(opened.request)).toBe(PROMPT);
    expect(toHex(opened.jobKey.exportBytes())).toBe(toHex(jobKey.exportBytes()));
  });

  it('round-trips to three workers: each opens, a fourth cannot', async () => {
    const { sealed } = await sealJob(makeHeader(), utf8(PROMPT), [
      alice.publicKey,
      bob.publicKey,
      carol.publicKey,
    ]);
    expect(sealed.recipients).toHaveLength(3);
    for (const worker of [alice, bob, carol]) {
      expect(fromUtf8((await open(sealed, worker)).request)).toBe(PROMPT);
    }
    await expectSealError(open(sealed, mallory), 'wrong_recipient');
  });

  it('seals an empty request and a fresh key every time', async () => {
    const header = makeHeader();
    const first = await sealJob(header, new Uint8Array(0), [alice.publicKey]);
    const second = await sealJob(header, new Uint8Array(0), [alice.publicKey]);
    expect((await open(first.sealed, alice)).request).toHaveLength(0);
    expect(first.sealed.body).not.toBe(second.sealed.body);
    expect(toHex(first.jobKey.exportBytes())).not.toBe(toHex(second.jobKey.exportBytes()));
  });

  it('hashes the body ciphertext for the receipt', async () => {
    const { sealed } = await sealJob(makeHeader(), utf8(PROMPT), [alice.publicKey]);
    expect(toHex(requestHash(sealed))).toBe(toHex(sha256(fromBase64(sealed.body))));
    expect(toHex(requestHash({ ...sealed, body: flip(sealed.body, 0) }))).not.toBe(
      toHex(requestHash(sealed)),
    );
  });

  it('refuses a changed byte anywhere in body, enc or wrapped key', async () => {
    const { sealed } = await sealJob(makeHeader(), utf8(PROMPT), [alice.publicKey, bob.publicKey]);
    const bodyLength = fromBase64(sealed.body).length;
    for (const index of [0, Math.floor(bodyLength / 2), bodyLength - 1]) {
      await expectSealError(open({ ...sealed, body: flip(sealed.body, index) }, alice), 'tampered');
    }
    const [entry, other] = sealed.recipients;
    if (!entry || !other) throw new Error('expected two recipients');
    for (const index of [0, 15, 31]) {
      const changed = { ...sealed, recipients: [{ ...entry, enc: flip(entry.enc, index) }, other] };
      await expectSealError(open(changed, alice), 'tampered');
    }
    for (const index of [0, 20, 47]) {
      const changed = {
        ...sealed,
        recipients: [{ ...entry, wrappedKey: flip(entry.wrappedKey, index) }, other],
      };
      await expectSealError(open(changed, alice), 'tampered');
    }
    // Bob's entry is untouched by Alice's being broken.
    const aliceBroken = {
      ...sealed,
      recipients: [{ ...entry, wrappedKey: flip(entry.wrappedKey, 0) }, other],
    };
    expect(fromUtf8((await open(aliceBroken, bob)).request)).toBe(PROMPT);
  });

  it('refuses any changed header field', async () => {
    const header = makeHeader();
    const { sealed } = await sealJob(header, utf8(PROMPT), [alice.publicKey]);
    const changes: Partial<JobHeader>[] = [
      { jobId: toHex(randomBytes(16)) },
      { model: toHex(randomBytes(32)) },
      { client: toHex(randomBytes(32)) },
      { maxTokens: header.maxTokens + 1 },
      { maxCost: header.maxCost + 1n },
      { expiresAt: header.expiresAt + 3600 },
    ];
    for (const change of changes) {
      await expectSealError(open({ ...sealed, header: { ...header, ...change } }, alice), 'tampered');
    }
  });

  it("refuses one worker's entry relabelled for another", async () => {
    const { sealed } = await sealJob(makeHeader(), utf8(PROMPT), [alice.publicKey, bob.publicKey]);
    const [forAlice, forBob] = sealed.recipients;
    if (!forAlice || !forBob) throw new Error('expected two recipients');
    const swapped = { ...sealed, recipients: [{ ...forBob, keyId: alice.keyId }] };
    await expectSealError(open(swapped, alice), 'tampered');
    const renamed = { ...sealed, recipients: [{ ...forAlice, keyId: mallory.keyId }, forBob] };
    await expectSealError(open(renamed, alice), 'wrong_recipient');
  });

  it('refuses an expired job, after checking it is authentic', async () => {
    const header = makeHeader({ expiresAt: NOW + 10 });
    const { sealed } = await sealJob(header, utf8(PROMPT), [alice.publicKey]);
    expect(
      fromUtf8((await openJob(sealed, alice, { clock: new ManualClock((NOW + 9) * 1000) })).request),
    ).toBe(PROMPT);
    await expectSealError(openJob(sealed, alice, { clock: new ManualClock((NOW + 10) * 1000) }), 'expired');
    const tampered = { ...sealed, header: { ...header, expiresAt: NOW - 1 } };
    await expectSealError(open(tampered, alice), 'tampered');
  });

  it('refuses malformed input on both sides', async () => {
    const { sealed } = await sealJob(makeHeader(), utf8(PROMPT), [alice.publicKey]);
    const [entry] = sealed.recipients;
    if (!entry) throw new Error('expected a recipient');
    await expectSealError(open({ ...sealed, recipients: [] }, alice), 'malformed');
    await expectSealError(open({ ...sealed, body: 'not base64!' }, alice), 'malformed');
    await expectSealError(open({ ...sealed, body: toBase64(new Uint8Array(8)) }, alice), 'malformed');
    await expectSealError(
      open({ ...sealed, recipients: [{ ...entry, enc: toBase64(new Uint8Array(31)) }] }, alice),
      'malformed',
    );
    await expectSealError(
      open({ ...sealed, recipients: [{ ...entry, wrappedKey: toBase64(new Uint8Array(47)) }] }, alice),
      'malformed',
    );
    await expectSealError(
      open({ ...sealed, header: { ...sealed.header, maxCost: -1n } }, alice),
      'malformed',
    );

    const header = makeHeader();
    await expectSealError(sealJob(header, utf8(PROMPT), []), 'malformed');
    await expectSealError(sealJob(header, utf8(PROMPT), Array(9).fill(alice.publicKey)), 'malformed');
    await expectSealError(sealJob(header, utf8(PROMPT), [alice.publicKey, alice.publicKey]), 'malformed');
    await expectSealError(sealJob(header, utf8(PROMPT), [alice.publicKey.subarray(1)]), 'malformed');
    await expectSealError(sealJob({ ...header, jobId: 'XYZ' }, utf8(PROMPT), [alice.publicKey]), 'malformed');
    await expectSealError(sealJob({ ...header, maxTokens: 0 }, utf8(PROMPT), [alice.publicKey]), 'malformed');
  });
});

describe('response chunks', () => {
  const parts = ['The box ', 'holds ', 'a cat.', '{"usage":1}'];

  async function job() {
    const header = makeHeader();
    const { sealed, jobKey } = await sealJob(header, utf8(PROMPT), [alice.publicKey, bob.publicKey]);
    const worker = await open(sealed, alice);
    return { jobId: header.jobId, clientKey: jobKey, workerKey: worker.jobKey };
  }

  it('stream from worker to client, and both compute the same response hash', async () => {
    const { jobId, clientKey, workerKey } = await job();
    const sealer = new ChunkSealer(workerKey, jobId);
    const chunks: SealedChunk[] = [];
    for (const [i, part] of parts.entries()) chunks.push(await sealer.seal(utf8(part), { final: i === 3 }));
    expect(chunks.map((c) => [c.jobId, c.index, c.final])).toEqual([
      [jobId, 0, false],
      [jobId, 1, false],
      [jobId, 2, false],
      [jobId, 3, true],
    ]);
    const opener = new ChunkOpener(clientKey, jobId);
    expect((await openAll(opener, chunks)).join('')).toBe(parts.join(''));
    opener.finish();
    const expected = sha256(
      new Uint8Array(
        chunks.flatMap((c) => {
          const data = fromBase64(c.data);
          return [...[24, 16, 8, 0].map((shift) => (data.length >>> shift) & 0xff), ...data];
        }),
      ),
    );
    expect(toHex(sealer.responseHash())).toBe(toHex(expected));
    expect(toHex(opener.responseHash())).toBe(toHex(expected));
  });

  it('handles a single empty final chunk and calls fired without awaiting', async () => {
    const { jobId, clientKey, workerKey } = await job();
    const single = await new ChunkSealer(workerKey, jobId).seal(new Uint8Array(0), { final: true });
    const lone = new ChunkOpener(clientKey, jobId);
    expect(await lone.open(single)).toHaveLength(0);
    lone.finish();

    const sealer = new ChunkSealer(workerKey, jobId);
    const chunks = await Promise.all(parts.map((part, i) => sealer.seal(utf8(part), { final: i === 3 })));
    expect(chunks.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    const opener = new ChunkOpener(clientKey, jobId);
    const opened = await Promise.all(chunks.map((chunk) => opener.open(chunk)));
    expect(opened.map(fromUtf8).join('')).toBe(parts.join(''));
    expect(toHex(opener.responseHash())).toBe(toHex(sealer.responseHash()));
  });

  it('gives each stream of the same job its own key, so repeated runs never reuse a nonce', async () => {
    const { jobId, workerKey } = await job();
    const first = await new ChunkSealer(workerKey, jobId).seal(utf8('same words'), { final: false });
    const second = await new ChunkSealer(workerKey, jobId).seal(utf8('same words'), { final: false });
    expect(fromBase64(first.data).subarray(32)).not.toEqual(fromBase64(second.data).subarray(32));
  });

  it('refuses reordered, dropped and duplicated chunks without losing its place', async () => {
    const { jobId, clientKey, workerKey } = await job();
    const [c0, c1, c2, c3] = (await sealStream(workerKey, jobId, parts)) as [
      SealedChunk,
      SealedChunk,
      SealedChunk,
      SealedChunk,
    ];
    const opener = new ChunkOpener(clientKey, jobId);
    await expectSealError(opener.open(c1), 'out_of_order');
    await opener.open(c0);
    await expectSealError(opener.open(c0), 'out_of_order');
    await expectSealError(opener.open(c2), 'out_of_order');
    await opener.open(c1);
    await expectSealError(opener.open(c3), 'out_of_order');
    expect((await openAll(opener, [c2, c3])).join('')).toBe(parts.slice(2).join(''));
    opener.finish();
  });

  it('refuses a stream that ends without its final chunk', async () => {
    const { jobId, clientKey, workerKey } = await job();
    const chunks = await sealStream(workerKey, jobId, parts);
    const opener = new ChunkOpener(clientKey, jobId);
    await openAll(opener, chunks.slice(0, 3));
    await expectSealError(() => opener.finish(), 'truncated');
    await expectSealError(() => opener.responseHash(), 'truncated');
    await expectSealError(() => new ChunkOpener(clientKey, jobId).finish(), 'truncated');
  });

  it('refuses a truncation disguised by flipping flags', async () => {
    const { jobId, clientKey, workerKey } = await job();
    const chunks = await sealStream(workerKey, jobId, parts);
    const cut = new ChunkOpener(clientKey, jobId);
    await openAll(cut, chunks.slice(0, 2));
    await expectSealError(cut.open({ ...(chunks[2] as SealedChunk), final: true }), 'tampered');
    const unfinal = new ChunkOpener(clientKey, jobId);
    await openAll(unfinal, chunks.slice(0, 3));
    await expectSealError(unfinal.open({ ...(chunks[3] as SealedChunk), final: false }), 'tampered');
    await expectSealError(() => unfinal.finish(), 'truncated');
  });

  it('refuses anything after the final chunk, on both sides', async () => {
    const { jobId, clientKey, workerKey } = await job();
    const sealer = new ChunkSealer(workerKey, jobId);
    await expectSealError(() => sealer.responseHash(), 'truncated');
    const last = await sealer.seal(utf8('done'), { final: true });
    await expectSealError(sealer.seal(utf8('more'), { final: false }), 'after_final');
    await expectSealError(sealer.seal(utf8('more'), { final: true }), 'after_final');
    const opener = new ChunkOpener(clientKey, jobId);
    await opener.open(last);
    await expectSealError(opener.open(last), 'after_final');
    const extra = await sealStream(workerKey, jobId, ['a', 'b']);
    await expectSealError(opener.open({ ...(extra[1] as SealedChunk) }), 'after_final');
    opener.finish();
  });

  it('refuses a changed byte of chunk data, its salt, or its index', async () => {
    const { jobId, clientKey, workerKey } = await job();
    const chunks = await sealStream(workerKey, jobId, parts);
    const [c0, c1] = chunks as [SealedChunk, SealedChunk];
    const c0Length = fromBase64(c0.data).length;
    for (const index of [0, 31, 32, c0Length - 17, c0Length - 1]) {
      await expectSealError(
        new ChunkOpener(clientKey, jobId).open({ ...c0, data: flip(c0.data, index) }),
        'tampered',
      );
    }
    const opener = new ChunkOpener(clientKey, jobId);
    await opener.open(c0);
    for (const index of [0, -17, -1]) {
      await expectSealError(opener.open({ ...c1, data: flip(c1.data, index) }), 'tampered');
    }
    await expectSealError(opener.open({ ...(chunks[2] as SealedChunk), index: 1 }), 'tampered');
    expect(fromUtf8(await opener.open(c1))).toBe(parts[1]);
  });

  it('refuses chunks spliced from another job or from another stream of this job', async () => {
    const mine = await job();
    const theirs = await job();
    const myChunks = await sealStream(mine.workerKey, mine.jobId, parts);
    const theirChunks = await sealStream(theirs.workerKey, theirs.jobId, parts);
    const opener = new ChunkOpener(mine.clientKey, mine.jobId);
    await opener.open(myChunks[0] as SealedChunk);
    await expectSealError(opener.open(theirChunks[1] as SealedChunk), 'wrong_job');
    await expectSealError(opener.open({ ...(theirChunks[1] as SealedChunk), jobId: mine.jobId }), 'tampered');
    // Another worker (or a retry) answering the same job streams under its own salt.
    const otherStream = await sealStream(mine.workerKey, mine.jobId, parts);
    await expectSealError(opener.open(otherStream[1] as SealedChunk), 'tampered');
    expect((await openAll(opener, myChunks.slice(1))).join('')).toBe(parts.slice(1).join(''));
    await expectSealError(
      new ChunkOpener(theirs.clientKey, mine.jobId).open(myChunks[0] as SealedChunk),
      'tampered',
    );
  });

  it('refuses malformed chunks and job ids', async () => {
    const { jobId, clientKey, workerKey } = await job();
    const [c0] = (await sealStream(workerKey, jobId, ['x'])) as [SealedChunk];
    const opener = new ChunkOpener(clientKey, jobId);
    await expectSealError(opener.open({ ...c0, index: -1 }), 'malformed');
    await expectSealError(opener.open({ ...c0, data: 'not base64!' }), 'malformed');
    await expectSealError(opener.open({ ...c0, data: toBase64(new Uint8Array(40)) }), 'malformed');
    await expectSealError(() => new ChunkOpener(clientKey, 'ABC'), 'malformed');
    await expectSealError(() => new ChunkSealer(workerKey, jobId.toUpperCase()), 'malformed');
    await expectSealError(() => JobKey.fromBytes(new Uint8Array(31)), 'malformed');
    expect(fromUtf8(await opener.open(c0))).toBe('x');
  });
});
