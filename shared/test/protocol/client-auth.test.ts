import { describe, expect, it } from 'vitest';
import { utf8 } from '../../src/bytes.js';
import { signRequest, TIME_HEADER, verifyRequest } from '../../src/protocol/client-auth.js';
import { generateSigningKeyPair } from '../../src/signing.js';

const client = generateSigningKeyPair();
const request = { method: 'POST', path: '/v1/jobs', body: utf8('{"sealed":true}') };
const now = 1_800_000_000;

describe('signed client requests', () => {
  it('names the client that signed', async () => {
    const headers = signRequest(request, client.secretKey, now);
    expect(await verifyRequest(request, headers, now + 5)).toBe(
      Buffer.from(client.publicKey).toString('hex'),
    );
  });

  it.each([
    ['another body', { ...request, body: utf8('{"sealed":false}') }],
    ['another path', { ...request, path: '/v1/jobs?x=1' }],
    ['another method', { ...request, method: 'PUT' }],
  ])('fails for %s', async (_, changed) => {
    const headers = signRequest(request, client.secretKey, now);
    await expect(verifyRequest(changed, headers, now)).rejects.toThrowError(/does not verify/);
  });

  it('fails for a changed time, and for a time too far from the clock', async () => {
    const headers = signRequest(request, client.secretKey, now);
    await expect(
      verifyRequest(request, { ...headers, [TIME_HEADER]: String(now + 1) }, now),
    ).rejects.toThrowError(/does not verify/);
    await expect(verifyRequest(request, headers, now + 121)).rejects.toThrowError(/from the server's clock/);
  });

  it('names a missing header', async () => {
    await expect(verifyRequest(request, {}, now)).rejects.toThrowError(/missing x-cocoon-client/);
  });
});
