import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { equalBytes, fromBase64, sha256, toBase64, utf8 } from '../../src/bytes.js';
import { ManualClock } from '../../src/clock.js';
import { SealError, type SealErrorCode } from '../../src/crypto/errors.js';
import { generateWorkerKeyPair, type WorkerHpkeKeyPair } from '../../src/crypto/hpke.js';
import { openJob, requestHash, sealJob } from '../../src/crypto/seal.js';
import { type JobHeader, SealedJob } from '../../src/protocol/job.js';
import {
  type ByteMutation,
  byteMutation,
  hexOf,
  mutateBytes,
  rejection,
  runs,
  timeoutFor,
} from './support.js';

const NOW = 1_800_000_000;
const clock = new ManualClock(NOW * 1000);
/** Every request starts with it, so a leak into an error message would show. */
const MARKER = 'SECRET-REQUEST:';

const pool: WorkerHpkeKeyPair[] = await Promise.all(Array.from({ length: 6 }, () => generateWorkerKeyPair()));
const worker = (i: number) => pool[i] as WorkerHpkeKeyPair;

const headerArb: fc.Arbitrary<JobHeader> = fc.record({
  v: fc.constant(1 as const),
  jobId: hexOf(16),
  model: hexOf(32),
  client: hexOf(32),
  maxTokens: fc.integer({ min: 1, max: 0xffffffff }),
  maxCost: fc.bigInt({ min: 0n, max: 10n ** 30n - 1n }),
  expiresAt: fc.integer({ min: NOW + 1, max: NOW + 10 ** 9 }),
});

const requestArb = fc
  .uint8Array({ maxLength: 2048 })
  .map((bytes) => Uint8Array.of(...utf8(MARKER), ...bytes));

/** Through the wire as the proxy and worker see it: JSON text parsed by the schema. */
const overWire = (sealed: SealedJob): SealedJob =>
  SealedJob.parse(JSON.parse(JSON.stringify(z.encode(SealedJob, sealed))));

describe('sealed jobs: random valid ones', () => {
  it(
    'open to the exact request for every recipient, and to nothing for anyone else',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          headerArb,
          requestArb,
          fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 1, maxLength: 3 }),
          async (header, request, recipients) => {
            const { sealed, jobKey } = await sealJob(
              header,
              request,
              recipients.map((i) => worker(i).publicKey),
            );
            const received = overWire(sealed);
            expect(received).toEqual(sealed);
            const opener = worker(recipients[recipients.length - 1] as number);
            const opened = await openJob(received, opener, { clock });
            expect(equalBytes(opened.request, request)).toBe(true);
            expect(equalBytes(opened.jobKey.exportBytes(), jobKey.exportBytes())).toBe(true);
            expect(equalBytes(requestHash(received), sha256(fromBase64(sealed.body)))).toBe(true);
            const outsider = worker([0, 1, 2, 3, 4, 5].find((i) => !recipients.includes(i)) as number);
            const refused = await rejection(() => openJob(received, outsider, { clock }), 'an outsider');
            expect(refused).toMatchObject({ name: 'SealError', code: 'wrong_recipient' });
          },
        ),
        runs(15),
      );
    },
    timeoutFor(60),
  );
});

type Field = Exclude<keyof JobHeader, 'v'>;
const FIELDS: readonly Field[] = ['jobId', 'model', 'client', 'maxTokens', 'maxCost', 'expiresAt'];

/** What can happen to a sealed job between the client and the worker, and the refusals each may cause. */
type JobMutation =
  | { kind: 'header'; field: Field; seed: JobHeader }
  | { kind: 'bytes'; part: 'body' | 'enc' | 'wrappedKey'; mutation: ByteMutation }
  | { kind: 'keyId'; mutation: ByteMutation }
  | { kind: 'swap-entries' }
  | { kind: 'splice'; part: 'body' | 'entry'; from: number }
  | { kind: 'text'; part: 'body' | 'enc' | 'wrappedKey' | 'keyId'; text: string }
  | { kind: 'json'; path: 'header' | 'recipients' | 'body' | 'maxCost'; value: unknown };

const jobMutationArb: fc.Arbitrary<JobMutation> = fc.oneof(
  fc.record({ kind: fc.constant('header' as const), field: fc.constantFrom(...FIELDS), seed: headerArb }),
  fc.record({
    kind: fc.constant('bytes' as const),
    part: fc.constantFrom('body' as const, 'enc' as const, 'wrappedKey' as const),
    mutation: byteMutation,
  }),
  fc.record({ kind: fc.constant('keyId' as const), mutation: byteMutation }),
  fc.record({ kind: fc.constant('swap-entries' as const) }),
  fc.record({
    kind: fc.constant('splice' as const),
    part: fc.constantFrom('body' as const, 'entry' as const),
    from: fc.nat(),
  }),
  fc.record({
    kind: fc.constant('text' as const),
    part: fc.constantFrom('body' as const, 'enc' as const, 'wrappedKey' as const, 'keyId' as const),
    text: fc.string({ maxLength: 64 }),
  }),
  fc.record({
    kind: fc.constant('json' as const),
    path: fc.constantFrom('header' as const, 'recipients' as const, 'body' as const, 'maxCost' as const),
    value: fc.jsonValue(),
  }),
);

/** Valid jobs sealed once to the opener (worker 0), alone or with others; mutations then target them. */
const OPENER = worker(0);
const jobs = await Promise.all(
  fc
    .sample(fc.tuple(headerArb, requestArb, fc.integer({ min: 0, max: 2 })), { numRuns: 8, seed: 11 })
    .map(async ([header, request, others]) => ({
      request,
      sealed: (
        await sealJob(
          header,
          request,
          [0, 1, 2].slice(0, others + 1).map((i) => worker(i).publicKey),
        )
      ).sealed,
    })),
);

/** The mutated job and the refusals it may meet; undefined when the mutation happens to change nothing. */
function mutate(
  sealed: SealedJob,
  mutation: JobMutation,
): { job: unknown; codes: SealErrorCode[] } | undefined {
  const job = structuredClone(sealed);
  const entry = job.recipients[0] as SealedJob['recipients'][number];
  switch (mutation.kind) {
    case 'header': {
      const { field, seed } = mutation;
      if (seed[field] === job.header[field]) return undefined;
      Object.assign(job.header, { [field]: seed[field] });
      // The header is the associated data of the wrapped key: any change fails HPKE.
      return { job, codes: ['tampered'] };
    }
    case 'bytes': {
      const mutated = mutateBytes(fromBase64(entryOrBody(job, mutation.part)), mutation.mutation);
      setPart(job, mutation.part, toBase64(mutated));
      return { job, codes: ['tampered', 'malformed'] };
    }
    case 'keyId': {
      entry.keyId = Buffer.from(mutateBytes(Buffer.from(entry.keyId, 'hex'), mutation.mutation)).toString(
        'hex',
      );
      return { job, codes: ['wrong_recipient', 'malformed'] };
    }
    case 'swap-entries': {
      const other = job.recipients[1];
      if (other === undefined) return { job: { ...job, recipients: [] }, codes: ['malformed'] };
      [entry.enc, other.enc] = [other.enc, entry.enc];
      [entry.wrappedKey, other.wrappedKey] = [other.wrappedKey, entry.wrappedKey];
      return { job, codes: ['tampered'] };
    }
    case 'splice': {
      const donor = jobs[mutation.from % jobs.length]?.sealed as SealedJob;
      if (donor === sealed) return { job: { ...job, body: 'not base64!' }, codes: ['malformed'] };
      if (mutation.part === 'body') job.body = donor.body;
      else job.recipients[0] = { ...(donor.recipients[0] as SealedJob['recipients'][number]) };
      return { job, codes: ['tampered'] };
    }
    case 'text': {
      setPart(job, mutation.part, mutation.text);
      return { job, codes: ['malformed', 'tampered', 'wrong_recipient'] };
    }
    case 'json': {
      const target = mutation.path === 'maxCost' ? job.header : job;
      Object.assign(target, { [mutation.path]: mutation.value });
      // A JSON string may happen to be base64 of at least a tag's length.
      return { job, codes: mutation.path === 'body' ? ['malformed', 'tampered'] : ['malformed'] };
    }
  }
}

function entryOrBody(job: SealedJob, part: 'body' | 'enc' | 'wrappedKey' | 'keyId'): string {
  return part === 'body' ? job.body : (job.recipients[0] as SealedJob['recipients'][number])[part];
}

function setPart(job: SealedJob, part: 'body' | 'enc' | 'wrappedKey' | 'keyId', value: string): void {
  if (part === 'body') job.body = value;
  else (job.recipients[0] as SealedJob['recipients'][number])[part] = value;
}

describe('sealed jobs: mutated valid ones', () => {
  it('open before any mutation', async () => {
    for (const { sealed, request } of jobs) {
      expect(equalBytes((await openJob(sealed, OPENER, { clock })).request, request)).toBe(true);
    }
  });

  it(
    'refuse every mutation with a SealError that names no plaintext, never a crash or another plaintext',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: jobs.length - 1 }), jobMutationArb, async (index, mutation) => {
          const { sealed } = jobs[index] as (typeof jobs)[number];
          const mutated = mutate(sealed, mutation);
          fc.pre(mutated !== undefined);
          const { job, codes } = mutated as NonNullable<typeof mutated>;
          const error = await rejection(() => openJob(job as SealedJob, OPENER, { clock }), 'a mutated job');
          expect(error).toBeInstanceOf(SealError);
          expect(codes).toContain((error as SealError).code);
          expect((error as SealError).message).not.toContain(MARKER);
        }),
        runs(150),
      );
    },
    timeoutFor(10),
  );

  it(
    'refuse random JSON as a sealed job with a malformed SealError',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.jsonValue(), async (value) => {
          const error = await rejection(() => openJob(value as never, OPENER, { clock }), 'random JSON');
          expect(error).toMatchObject({ name: 'SealError', code: 'malformed' });
        }),
        runs(200),
      );
    },
    timeoutFor(2),
  );
});
