import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fromUtf8 } from '../../src/bytes.js';
import { encodeJobHeader, JobHeader } from '../../src/protocol/job.js';
import { JobStreamEvent, WorkerToProxy } from '../../src/protocol/messages.js';

const wireHeader = {
  v: 1,
  jobId: '00112233445566778899aabbccddeeff',
  model: 'ab'.repeat(32),
  client: 'cd'.repeat(32),
  maxTokens: 256,
  maxCost: '123456789012345678901',
  expiresAt: 1_800_000_000,
};

describe('job header', () => {
  it('decodes money to bigint and encodes it back to the same wire form', () => {
    const header = JobHeader.parse(wireHeader);
    expect(header.maxCost).toBe(123456789012345678901n);
    expect(z.encode(JobHeader, header)).toEqual(wireHeader);
  });

  it('has canonical bytes that do not depend on key order', () => {
    const reordered = JobHeader.parse(Object.fromEntries(Object.entries(wireHeader).reverse()));
    const bytes = encodeJobHeader(JobHeader.parse(wireHeader));
    expect(encodeJobHeader(reordered)).toEqual(bytes);
    expect(fromUtf8(bytes)).toMatch(/^cocoon\/job\/v1\n\[1,"0011/);
  });

  it('changes its bytes when any field changes', () => {
    const base = encodeJobHeader(JobHeader.parse(wireHeader));
    const variants = { maxTokens: 257, maxCost: '1', expiresAt: 1, model: 'ef'.repeat(32) };
    for (const [field, value] of Object.entries(variants)) {
      expect(encodeJobHeader(JobHeader.parse({ ...wireHeader, [field]: value })), field).not.toEqual(base);
    }
  });

  it.each([
    ['uppercase hex', { jobId: wireHeader.jobId.toUpperCase() }, /lowercase hex/],
    ['a short key', { client: 'cd' }, /32 bytes/],
    ['fractional money', { maxCost: '1.5' }, /nanotons/],
    ['negative money', { maxCost: '-1' }, /nanotons/],
    ['another protocol version', { v: 2 }, /1/],
    ['zero max tokens', { maxTokens: 0 }, />=1/],
  ])('refuses %s with a clear message', (_, change, message) => {
    const result = JobHeader.safeParse({ ...wireHeader, ...change });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(message);
  });
});

describe('messages', () => {
  it('parses the worker and stream messages by their type', () => {
    expect(WorkerToProxy.parse({ type: 'heartbeat', load: { activeJobs: 1, capacity: 4 } }).type).toBe(
      'heartbeat',
    );
    expect(() => WorkerToProxy.parse({ type: 'heartbeat', load: { activeJobs: -1, capacity: 4 } })).toThrow();
    expect(() => JobStreamEvent.parse({ type: 'unknown' })).toThrow();
  });
});
