import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DestinationPolicy } from '../../src/links/address-policy.js';
import { fetchPage, type ResolveHost } from '../../src/links/fetch-page.js';

/** A throwaway self-signed certificate for herald.test, made with openssl for this run only. */
function makeCertificate(): { key: string; cert: string } {
  const folder = mkdtempSync(join(tmpdir(), 'bot-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=herald.test',
        '-addext',
        'subjectAltName=DNS:herald.test',
        '-keyout',
        join(folder, 'key.pem'),
        '-out',
        join(folder, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(folder, 'key.pem'), 'utf8'),
      cert: readFileSync(join(folder, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

let server: https.Server;
let port: number;
let cert: string;
const resolve: ResolveHost = async (hostname) =>
  hostname === 'herald.test' || hostname === 'other.test' ? [{ address: '127.0.0.1', family: 4 }] : [];
const policy: DestinationPolicy = {
  allows: (destination) => destination.address === '127.0.0.1' && destination.port === port,
};

beforeAll(async () => {
  const tls = makeCertificate();
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
