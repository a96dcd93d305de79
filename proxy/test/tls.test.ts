import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { Logger } from '@cocoon/shared/log';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../../shared/test/support/certificate.js';
import { fixedAllowance, MemoryCredit } from '../src/credit.js';
import { StaticPolicySource } from '../src/policy.js';
import { CocoonProxy } from '../src/proxy.js';
import { readTls, reloadTlsOnChange, type TlsFiles, tlsFilesFrom } from '../src/tls.js';
import { devPolicy, type Harness, MODEL, openTestStore, startHarness } from './support/harness.js';
import { waitFor } from './support/wait.js';

let folder: string;
let testStore: Awaited<ReturnType<typeof openTestStore>>;
let harness: Harness | undefined;
/** Two pairs for 127.0.0.1 (a certificate and its renewal) and their PEM files. */
const first = makeCertificate('proxy.test', 'IP:127.0.0.1');
const renewed = makeCertificate('proxy.test', 'IP:127.0.0.1');
let files: TlsFiles;

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** A fetch that trusts only `ca`, as a client of a proxy with a private CA would be set up. */
const fetchTrusting = (ca: string): typeof globalThis.fetch =>
  ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, {
      ...(init as object),
      dispatcher: new Agent({ connect: { ca } }),
    })) as unknown as typeof globalThis.fetch;

async function writePair(target: TlsFiles, pair: { cert?: string; key?: string }): Promise<void> {
  if (pair.cert !== undefined) await writeFile(target.certFile, pair.cert);
  if (pair.key !== undefined) await writeFile(target.keyFile, pair.key);
}

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'cocoon-proxy-tls-'));
  files = { certFile: join(folder, 'cert.pem'), keyFile: join(folder, 'key.pem') };
  await writePair(files, first);
  testStore = await openTestStore();
});
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});
afterAll(async () => {
  await testStore.remove();
  await rm(folder, { recursive: true, force: true });
});

describe('a proxy serving TLS', () => {
  it('runs a sealed job for a client over HTTPS and its worker over WSS, and nothing in the clear', async () => {
    harness = await startHarness(testStore.store, {
      tls: { files, ca: Buffer.from(first.cert), fetch: fetchTrusting(first.cert) },
    });
    expect(harness.proxy.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(harness.workerUrl).toMatch(/^wss:\/\//);
    const worker = await harness.worker();
    expect(worker.workerId).toBeDefined();
    const client = harness.client();
    const { sealed, jobKey } = await client.seal(MODEL, [worker.hpkePublicKey], { text: 'over tls' });
    const outcome = await client.run(sealed, jobKey);
    expect(outcome.status).toBe(200);
    expect(outcome.text).toBe('over tls');
    expect(outcome.receipt).toBeDefined();

    // Plain HTTP on the same port gets no answer, and a client that does not trust the certificate stops.
    const plain = harness.proxy.url.replace('https:', 'http:');
    await expect(fetch(`${plain}/healthz`)).rejects.toThrow();
    await expect(fetch(`${harness.proxy.url}/healthz`)).rejects.toThrow();
    const trusted = await fetchTrusting(first.cert)(`${harness.proxy.url}/healthz`);
    expect(trusted.status).toBe(200);

    // Operators alert on the certificate's expiry.
    const notAfter = new Date(new X509Certificate(first.cert).validTo).getTime() / 1000;
    expect(await harness.proxy.metrics.registry.metrics()).toContain(
      `cocoon_proxy_tls_certificate_not_after_seconds ${notAfter}`,
    );
  });

  it('refuses to start on a key that is not the certificate’s, or a file it cannot read, and says which', async () => {
    const mismatched = { certFile: join(folder, 'mismatched.crt'), keyFile: join(folder, 'mismatched.key') };
    await writePair(mismatched, { cert: first.cert, key: renewed.key });
    const start = (tls: TlsFiles) =>
      CocoonProxy.start(
        {
          store: testStore.store,
          policySource: new StaticPolicySource(devPolicy()),
          credit: new MemoryCredit(fixedAllowance(1n)),
        },
        { host: '127.0.0.1', port: 0, tls },
      );
    await expect(start(mismatched)).rejects.toMatchObject({
      name: 'TlsSetupError',
      message: expect.stringContaining(
        `${mismatched.keyFile} is not the private key of ${mismatched.certFile}`,
      ),
    });
    const missing = { ...files, certFile: join(folder, 'absent.pem') };
    await expect(start(missing)).rejects.toMatchObject({
      name: 'TlsSetupError',
      message: expect.stringContaining(`cannot read the TLS certificate ${missing.certFile}`),
    });
    await writePair(mismatched, { cert: 'not a certificate' });
    await expect(readTls(mismatched)).rejects.toMatchObject({
      message: expect.stringContaining(`${mismatched.certFile} holds no PEM certificate`),
    });
  });

  it('takes both files or neither', () => {
    expect(tlsFilesFrom(undefined, undefined)).toBeUndefined();
    expect(tlsFilesFrom('c.pem', 'k.pem')).toEqual({ certFile: 'c.pem', keyFile: 'k.pem' });
    expect(() => tlsFilesFrom('c.pem', undefined)).toThrow(/go together/);
    expect(() => tlsFilesFrom(undefined, 'k.pem')).toThrow(/go together/);
  });
});

describe('certificate renewal', () => {
  let server: Server;
  let stop: () => void;
  const warnings: string[] = [];
  const log = {
    info: () => {},
    warn: (_fields: unknown, message: string) => warnings.push(message),
  } as unknown as Logger;
  let renewal: TlsFiles;
  /** The fingerprints of the pairs reloaded (what the proxy's expiry metric follows). */
  const reloaded: string[] = [];

  /** The fingerprint of the certificate a new connection is served (both pairs trusted). */
  const served = () =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(
        { host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: [first.cert, renewed.cert] },
        () => {
          resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
          socket.end();
        },
      );
      socket.once('error', reject);
    });

  beforeAll(async () => {
    renewal = { certFile: join(folder, 'renewal.crt'), keyFile: join(folder, 'renewal.key') };
    await writePair(renewal, first);
    server = createServer(await readTls(renewal), (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    stop = reloadTlsOnChange(server, renewal, {
      log,
      intervalMs: 20,
      onReload: (material) => reloaded.push(material.fingerprint),
    });
  });
  afterAll(async () => {
    stop();
    await new Promise((resolve) => server.close(resolve));
  });

  it('serves a renewed pair to new connections without a restart, and the old one while a pair is half written', async () => {
    expect(await served()).toBe(fingerprint(first.cert));
    // The certificate is replaced first, its key not yet: the pair does not load, the old one stays.
    await writePair(renewal, { cert: renewed.cert });
    await waitFor(() => warnings.length > 0, 'the warning about a pair that does not load');
    expect(warnings[0]).toMatch(/do not load; serving the old pair/);
    expect(await served()).toBe(fingerprint(first.cert));
    await writePair(renewal, { key: renewed.key });
    await waitFor(async () => (await served()) === fingerprint(renewed.cert), 'the renewed certificate');
    // Every pair that loaded was the renewed one (a poll may catch a file mid-write: that try just fails).
    expect(reloaded.length).toBeGreaterThan(0);
    expect(reloaded.every((loaded) => loaded === fingerprint(renewed.cert))).toBe(true);
  });
});
