import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromUtf8, randomBytes, toHex, utf8 } from '../../src/bytes.js';
import { generateWorkerKeyPair } from '../../src/crypto/hpke.js';
import { sealJob } from '../../src/crypto/seal.js';
import { MAX_SEALED_JOB_BYTES, SealedJob } from '../../src/protocol/job.js';
import {
  padJson,
  padmeLength,
  REQUEST_PADDING_CEILING,
  REQUEST_PADDING_FLOOR,
} from '../../src/protocol/padding.js';

describe('Padmé padding', () => {
  it('pads to at least the floor, at most 12 % beyond it, to a length that pads to itself', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom(0, 64, 1024), (length, floor) => {
        const padded = padmeLength(length, floor);
        expect(padded).toBeGreaterThanOrEqual(Math.max(length, floor));
        if (length > floor) expect(padded / length).toBeLessThanOrEqual(1.12);
        expect(padmeLength(padded, floor)).toBe(padded);
        expect(Number.isSafeInteger(padded)).toBe(true);
      }),
    );
  });

  it('leaves few lengths to tell apart: the published values, and multiples of 32 KiB between 1 and 2 MiB', () => {
    // Values from the PURBs paper's definition (E = ⌊log2 L⌋, S = ⌊log2 E⌋ + 1, last E − S bits zero).
    expect([9, 65, 100, 1025, 4097, 10_000].map((length) => padmeLength(length))).toEqual([
      10, 72, 104, 1088, 4352, 10_240,
    ]);
    const lengths = new Set<number>();
    for (let length = 2 ** 20; length < 2 ** 21; length += 997) lengths.add(padmeLength(length));
    // E = 20, S = 5: the low 15 bits are zero, so 1 MiB to 2 MiB pads to one of 33 lengths.
    expect([...lengths].every((length) => length % 2 ** 15 === 0)).toBe(true);
    expect(lengths.size).toBe(33);
    expect([...Array(1024).keys()].every((length) => padmeLength(length, 1024) === 1024)).toBe(true);
  });

  it('pads JSON with spaces that parse away', () => {
    const json = utf8(JSON.stringify({ messages: [{ role: 'user', content: 'summarize this ✨' }] }));
    const padded = padJson(json, 1024);
    expect(padded.length).toBe(1024);
    expect(JSON.parse(fromUtf8(padded))).toEqual(JSON.parse(fromUtf8(json)));
    expect(padJson(padded, 1024)).toEqual(padded);
  });

  it('never pads a request past what a proxy takes, sealed to the most recipients', async () => {
    // A length whose Padmé step would cross the ceiling stops at it; a longer one is left as it is.
    const near = REQUEST_PADDING_CEILING - 1000;
    expect(padmeLength(near)).toBeGreaterThan(REQUEST_PADDING_CEILING);
    const json = (length: number) => utf8(`"${'a'.repeat(length - 2)}"`);
    expect(padJson(json(near), REQUEST_PADDING_FLOOR, REQUEST_PADDING_CEILING).length).toBe(
      REQUEST_PADDING_CEILING,
    );
    const over = REQUEST_PADDING_CEILING + 10;
    expect(padJson(json(over), REQUEST_PADDING_FLOOR, REQUEST_PADDING_CEILING).length).toBe(over);

    const recipients = await Promise.all(Array.from({ length: 8 }, () => generateWorkerKeyPair()));
    const { sealed } = await sealJob(
      {
        v: 1,
        jobId: toHex(randomBytes(16)),
        model: 'ab'.repeat(32),
        client: 'cd'.repeat(32),
        maxTokens: 131_072,
        maxCost: 10n ** 18n,
        expiresAt: 2_000_000_000,
      },
      padJson(json(near), REQUEST_PADDING_FLOOR, REQUEST_PADDING_CEILING),
      recipients.map((pair) => pair.publicKey),
    );
    const wire = utf8(JSON.stringify(SealedJob.encode(sealed)));
    expect(wire.length).toBeLessThanOrEqual(MAX_SEALED_JOB_BYTES);
    expect(wire.length).toBeGreaterThan(MAX_SEALED_JOB_BYTES - 64 * 1024);
  });
});
