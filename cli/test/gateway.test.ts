import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CocoonClient, generateSigningKeyPair } from '@cocoon/shared';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../src/gateway.js';

/** A CocoonClient whose proxy port nothing listens on (bound, then closed). */
async function clientOfDeadProxy(): Promise<CocoonClient> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const deadPort = (probe.address() as AddressInfo).port;
  probe.close();
  return new CocoonClient({
    proxyUrl: `http://127.0.0.1:${deadPort}`,
    clientKey: generateSigningKeyPair(),
    policy: { allowDev: true, imageHashes: [], models: [] },
  });
}

describe('gateway errors', () => {
  it('says the proxy is unreachable (502), not that the model does not exist, and validates bodies (400)', async () => {
    const server = createServer(createGateway({ client: await clientOfDeadProxy() })).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
    try {
      const post = (body: unknown) =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const unreachable = await post({ model: 'any', messages: [{ role: 'user', content: 'hi' }] });
      expect(unreachable.status).toBe(502);
      expect((await unreachable.json()).error).toMatchObject({
        code: 'proxy_error',
        message: expect.stringMatching(/cannot reach the proxy/),
      });
      const invalid = await post({ model: 'any', messages: [] });
      expect(invalid.status).toBe(400);
      expect((await invalid.json()).error.message).toMatch(/^messages:/);
    } finally {
      server.close();
    }
  });

  it('with an API key set, refuses a request without it or with another one (401) before anything else', async () => {
    const apiKey = 'sk-gateway-key-of-some-length';
    const server = createServer(createGateway({ client: await clientOfDeadProxy(), apiKey })).listen(
      0,
      '127.0.0.1',
    );
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/models`;
    try {
      for (const authorization of [
        undefined,
        'Bearer sk-gateway-key-of-some-lengt',
        `Basic ${apiKey}`,
        apiKey,
      ]) {
        const refused = await fetch(url, { headers: authorization === undefined ? {} : { authorization } });
        expect(refused.status).toBe(401);
        expect((await refused.json()).error.code).toBe('invalid_api_key');
      }
      // The right key gets through to the proxy, which is unreachable here.
      const admitted = await fetch(url, { headers: { authorization: `Bearer ${apiKey}` } });
      expect(admitted.status).toBe(502);
    } finally {
      server.close();
    }
  });
});
