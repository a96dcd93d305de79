import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes, fromBase64, randomBytes, toBase64, toHex } from '../../src/bytes.js';
import { SealError } from '../../src/crypto/errors.js';
import { ChunkOpener, ChunkSealer, JobKey } from '../../src/crypto/seal.js';
import type { SealedChunk } from '../../src/protocol/job.js';
import { type ByteMutation, byteMutation, mutateBytes, rejection, runs, timeoutFor } from './support.js';

/**
 * Streams of one job as a client may receive them: A is the answer, B another answer to the same job
 * (a failover or retry: same job key, its own salt), C an answer to another job.
 */
type StreamName = 'A' | 'B' | 'C';

interface Stream {
  plaintexts: Uint8Array[];
  chunks: SealedChunk[];
  responseHash: Uint8Array;
}

async function sealStream(jobKey: JobKey, jobId: string, plaintexts: Uint8Array[]): Promise<Stream> {
  const sealer = new ChunkSealer(jobKey, jobId);
  const chunks: SealedChunk[] = [];
  for (const [i, plaintext] of plaintexts.entries()) {
    chunks.push(await sealer.seal(plaintext, { final: i === plaintexts.length - 1 }));
  }
  return { plaintexts, chunks, responseHash: sealer.responseHash() };
}

const plaintextsArb = fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 8 });

/** Edits of the delivery of A's chunks: order, other streams' chunks, changed fields or bytes. */
type Edit =
  | { kind: 'swap'; i: number; j: number }
  | { kind: 'drop'; i: number }
  | { kind: 'duplicate'; i: number; to: number }
  | { kind: 'splice'; i: number; from: 'B' | 'C'; index: number }
  | { kind: 'mutate'; i: number; what: 'index' | 'final' | 'jobId'; delta: number }
  | { kind: 'bytes'; i: number; mutation: ByteMutation };

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), i: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), i: fc.nat(), to: fc.nat() }),
  fc.record({
    kind: fc.constant('splice' as const),
    i: fc.nat(),
    from: fc.constantFrom('B' as const, 'C' as const),
    index: fc.nat(),
  }),
  fc.record({
    kind: fc.constant('mutate' as const),
    i: fc.nat(),
    what: fc.constantFrom('index' as const, 'final' as const, 'jobId' as const),
    delta: fc.integer({ min: 1, max: 0xffff }),
  }),
  fc.record({ kind: fc.constant('bytes' as const), i: fc.nat(), mutation: byteMutation }),
);

function deliver(streams: Record<StreamName, Stream>, edits: Edit[]): SealedChunk[] {
  let out = [...streams.A.chunks];
  for (const edit of edits) {
    if (out.length === 0) break;
    const at = edit.i % out.length;
    const item = out[at] as SealedChunk;
    switch (edit.kind) {
      case 'swap': {
        const j = edit.j % out.length;
        [out[at], out[j]] = [out[j] as SealedChunk, item];
        break;
      }
      case 'drop':
        out = out.filter((_, k) => k !== at);
        break;
      case 'duplicate':
        out.splice(edit.to % (out.length + 1), 0, item);
        break;
      case 'splice': {
        const donor = streams[edit.from].chunks;
        out[at] = donor[edit.index % donor.length] as SealedChunk;
        break;
      }
      case 'mutate': {
        const chunk = { ...item };
        if (edit.what === 'index') chunk.index = (chunk.index + edit.delta) % 0x1_0000_0000;
        else if (edit.what === 'final') chunk.final = !chunk.final;
        else chunk.jobId = toHex(randomBytes(16));
        out[at] = chunk;
        break;
      }
      case 'bytes':
        out[at] = { ...item, data: toBase64(mutateBytes(fromBase64(item.data), edit.mutation)) };
        break;
    }
  }
  return out;
}

/** Which original chunk this is, field for field; undefined for a changed one (edits may undo each other). */
function originOf(streams: Record<StreamName, Stream>, chunk: SealedChunk) {
  for (const stream of ['A', 'B', 'C'] as const) {
    const index = streams[stream].chunks.findIndex(
      (original) =>
        original.jobId === chunk.jobId &&
        original.index === chunk.index &&
        original.final === chunk.final &&
        original.data === chunk.data,
    );
    if (index >= 0) return { stream, index };
  }
  return undefined;
}

describe('chunk streams', () => {
  it(
    'reordered, dropped, duplicated, spliced or mutated chunks: typed refusals, and what is accepted is a prefix',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          plaintextsArb,
          plaintextsArb,
          plaintextsArb,
          fc.array(editArb, { maxLength: 4 }),
          async (a, b, c, edits) => {
            const jobKey = JobKey.generate();
            const jobId = toHex(randomBytes(16));
            const streams: Record<StreamName, Stream> = {
              A: await sealStream(jobKey, jobId, a),
              B: await sealStream(jobKey, jobId, b),
              C: await sealStream(JobKey.generate(), toHex(randomBytes(16)), c),
            };
            const opener = new ChunkOpener(jobKey, jobId);
            const accepted: { stream: StreamName; index: number; plaintext: Uint8Array }[] = [];
            for (const chunk of deliver(streams, edits)) {
              let plaintext: Uint8Array;
              try {
                plaintext = await opener.open(chunk);
              } catch (error) {
                expect(error).toBeInstanceOf(SealError);
                expect(['out_of_order', 'tampered', 'wrong_job', 'after_final', 'malformed']).toContain(
                  (error as SealError).code,
                );
                continue;
              }
              const origin = originOf(streams, chunk);
              if (origin === undefined)
                throw new Error(`a mutated chunk was accepted: ${fc.stringify(chunk)}`);
              accepted.push({ ...origin, plaintext });
            }
            // One stream, from its first chunk on, in order, byte for byte.
            const source = accepted[0]?.stream ?? 'A';
            expect(source).not.toBe('C');
            const stream = streams[source];
            accepted.forEach((item, i) => {
              expect(item).toMatchObject({ stream: source, index: i });
              expect(equalBytes(item.plaintext, stream.plaintexts[i] as Uint8Array)).toBe(true);
            });
            if (accepted.length === stream.chunks.length) {
              expect(equalBytes(opener.responseHash(), stream.responseHash)).toBe(true);
            } else {
              const error = await rejection(() => opener.finish(), 'an incomplete stream');
              expect(error).toMatchObject({ name: 'SealError', code: 'truncated' });
            }
          },
        ),
        runs(150),
      );
    },
    timeoutFor(10),
  );

  it(
    'random JSON as a chunk is refused as malformed',
    async () => {
      const opener = new ChunkOpener(JobKey.generate(), toHex(randomBytes(16)));
      await fc.assert(
        fc.asyncProperty(fc.jsonValue(), async (value) => {
          const error = await rejection(() => opener.open(value as never), 'random JSON');
          expect(error).toMatchObject({ name: 'SealError', code: 'malformed' });
        }),
        runs(200),
      );
    },
    timeoutFor(2),
  );
});
