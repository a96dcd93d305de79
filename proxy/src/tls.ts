// Node-only by nature: reads PEM files and watches them (node:fs) for the proxy's HTTPS server.
import { X509Certificate } from 'node:crypto';
import { unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { Logger } from '@cocoon/shared/log';

/** PEM files: the certificate chain (leaf first) and its private key. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** The leaf certificate's end of validity (ISO 8601) and SHA-256 fingerprint, for logs. */
  validTo: string;
  fingerprint: string;
  /** The same end of validity, in Unix seconds. */
  notAfterSeconds: number;
}

export class TlsSetupError extends Error {
  override readonly name = 'TlsSetupError';
}

/** The files from both settings, or none from neither; one without the other is a mistake. */
export function tlsFilesFrom(
  certFile: string | undefined,
  keyFile: string | undefined,
): TlsFiles | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined)
    throw new TlsSetupError(
      'PROXY_TLS_CERT_FILE and PROXY_TLS_KEY_FILE go together: set both to serve HTTPS, or neither',
    );
  return { certFile, keyFile };
}

async function readPem(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new TlsSetupError(`cannot read the TLS ${what} ${file}: ${(error as Error).message}`);
  }
}

/** Reads the chain and key, and checks that they parse and that the key is the certificate's. */
export async function readTls(files: TlsFiles): Promise<TlsMaterial> {
  const [cert, key] = await Promise.all([
    readPem(files.certFile, 'certificate'),
    readPem(files.keyFile, 'key'),
  ]);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new TlsSetupError(`${files.certFile} holds no PEM certificate: ${(error as Error).message}`);
  }
  try {
    // Parses the key and checks it against the leaf, as the server would at its first handshake.
    createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsSetupError(
      `${files.keyFile} is not the private key of ${files.certFile}: ${(error as Error).message}`,
    );
  }
  const notAfter = new Date(leaf.validTo);
  return {
    cert,
    key,
    validTo: notAfter.toISOString(),
    fingerprint: leaf.fingerprint256,
    notAfterSeconds: notAfter.getTime() / 1000,
  };
}

/** How often the files are checked for a renewal (certbot and its kind replace them in place). */
const RELOAD_CHECK_MS = 60_000;

/**
 * Serves renewed certificates without a restart: when either file changes, reads both again and gives the
 * server the new pair for the handshakes that follow. A pair that does not load (one file written, the other
 * not yet) is logged and the old one kept; the next change tries again. Returns what stops the watching.
 */
export function reloadTlsOnChange(
  server: Server,
  files: TlsFiles,
  options: { log?: Logger; intervalMs?: number; onReload?(material: TlsMaterial): void } = {},
): () => void {
  const { log, intervalMs = RELOAD_CHECK_MS } = options;
  const reload = () => {
    readTls(files).then(
      (material) => {
        server.setSecureContext({ cert: material.cert, key: material.key });
        options.onReload?.(material);
        log?.info(
          { validTo: material.validTo, fingerprint: material.fingerprint },
          'TLS certificate reloaded',
        );
      },
      (error: unknown) =>
        log?.warn(
          { err: (error as Error).message },
          'TLS files changed but do not load; serving the old pair',
        ),
    );
  };
  const onChange = (current: { mtimeMs: number }, previous: { mtimeMs: number }) => {
    if (current.mtimeMs !== previous.mtimeMs) reload();
  };
  for (const file of [files.certFile, files.keyFile]) {
    watchFile(file, { interval: intervalMs, persistent: false }, onChange);
  }
  return () => {
    for (const file of [files.certFile, files.keyFile]) unwatchFile(file, onChange);
  };
}
