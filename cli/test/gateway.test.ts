import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CocoonClient, generateSigningKeyPair } from '@cocoon/shared';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../src/gateway.js';

describe('gateway errors', () => {
  it('says the proxy is unreachable (502), not that the model does not exist, and validates bodies (400)', async () => {
    // A port nothing listens on: bind one, then close it.
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const deadPort = (probe.address() as AddressInfo).port;
    probe.close();
    const client = new CocoonClient({
      proxyUrl: `http://127.0.0.1:${deadPort}`,
      clientKey: generateSigningKeyPair(),
      policy: { allowDev: true, imageHashes: [], models: [] },
    });
    const server = createServer(createGateway({ client })).listen(0, '127.0.0.1');
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
});
