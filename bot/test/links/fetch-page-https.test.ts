import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../../../shared/test/support/certificate.js';
import type { DestinationPolicy } from '../../src/links/address-policy.js';
import { fetchPage, type ResolveHost } from '../../src/links/fetch-page.js';

let server: https.Server;
let port: number;
let cert: string;
const resolve: ResolveHost = async (hostname) =>
  hostname === 'herald.test' || hostname === 'other.test' ? [{ address: '127.0.0.1', family: 4 }] : [];
const policy: DestinationPolicy = {
  allows: (destination) => destination.address === '127.0.0.1' && destination.port === port,
};

beforeAll(async () => {
  const tls = makeCertificate('herald.test', 'DNS:herald.test');
  cert = tls.cert;
  server = https.createServer(tls, (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end('<p>secure</p>');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((done) => server.close(() => done())));

describe('fetchPage over https', () => {
  it('connects to the pinned address and checks the certificate against the host name', async () => {
    const page = await fetchPage(`https://herald.test:${port}/`, { policy, resolve, ca: cert });
    expect(page.text).toBe('<p>secure</p>');
  });

  it('refuses a certificate it does not trust', async () => {
    await expect(fetchPage(`https://herald.test:${port}/`, { policy, resolve })).rejects.toMatchObject({
      code: 'network',
    });
  });

  it('refuses a certificate for another host name', async () => {
    await expect(
      fetchPage(`https://other.test:${port}/`, { policy, resolve, ca: cert }),
    ).rejects.toMatchObject({
      code: 'network',
    });
  });
});
