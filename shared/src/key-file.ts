import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type Config,
  fromHex,
  generateSigningKeyPair,
  type SigningKeyPair,
  signingPublicKey,
  toHex,
} from '@cocoon/shared';
import { z } from 'zod';

const Hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${2 * bytes}}$`));

/** v1: the secret key in the clear (readable by its owner only). */
const PlainKeyFile = z.object({ v: z.literal(1), secretKey: Hex(32) });
/** v2: the secret key under AES-256-GCM, its key derived from a passphrase by scrypt (parameters kept here). */
const SealedKeyFile = z.object({
  v: z.literal(2),
  // bounded, so a planted file cannot make loading it take gigabytes
  kdf: z.object({
    name: z.literal('scrypt'),
    N: z
      .number()
      .int()
      .min(2 ** 10)
      .max(2 ** 20)
      .refine((n) => (n & (n - 1)) === 0, 'a power of two'),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
  }),
  salt: Hex(16),
  nonce: Hex(12),
  ciphertext: Hex(32 + 16),
});
const KeyFile = z.discriminatedUnion('v', [PlainKeyFile, SealedKeyFile]);
type SealedKeyFile = z.output<typeof SealedKeyFile>;

/** scrypt's "interactive" cost raised one step: about 32 MiB and 0.1 s, once per key at start. */
const KDF = { name: 'scrypt', N: 2 ** 15, r: 8, p: 1 } as const;
const deriveKey = promisify(scrypt) as (
  passphrase: string,
  salt: Buffer,
  length: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

export interface KeyFileOptions {
  /**
   * Keeps the key encrypted under this passphrase (COCOON_KEY_PASSPHRASE). A key file written without one
   * is encrypted the first time it is loaded with one.
   */
  passphrase?: string;
}

/** The key file options a process's settings give. */
export const keyFileOptions = (config: Pick<Config, 'COCOON_KEY_PASSPHRASE'>): KeyFileOptions =>
  config.COCOON_KEY_PASSPHRASE === undefined ? {} : { passphrase: config.COCOON_KEY_PASSPHRASE };

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

/**
 * An Ed25519 key made on first use and kept in the data folder as `<name>-key.json`, readable by its owner
 * only, and encrypted when a passphrase is given: a client account's key (it signs requests and cumulative
 * totals: whoever holds it spends the account's deposit) or a proxy operator's (it signs payouts). One key per
 * program, so that programs sharing a data folder never race on each other's cumulative totals.
 */
export async function loadOrCreateKey(
  dataDir: string,
  name: string,
  options: KeyFileOptions = {},
): Promise<SigningKeyPair> {
  const path = join(dataDir, `${name}-key.json`);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text === undefined) {
    const keys = generateSigningKeyPair();
    await mkdir(dataDir, { recursive: true });
    await writeFile(path, await serialize(keys.secretKey, name, options.passphrase), {
      mode: 0o600,
      flag: 'wx',
    });
    await chmod(path, 0o600);
    return keys;
  }
  const file = parseKeyFile(text, path);
  let secretKey: Uint8Array;
  if (file.v === 1) {
    secretKey = fromHex(file.secretKey);
    if (options.passphrase !== undefined)
      await replace(path, await serialize(secretKey, name, options.passphrase));
  } else {
    if (options.passphrase === undefined)
      throw new KeyFileError(
        `${path} is encrypted: set COCOON_KEY_PASSPHRASE to the passphrase it was written with`,
      );
    secretKey = await open(file, name, options.passphrase, path);
  }
  return { secretKey, publicKey: signingPublicKey(secretKey) };
}

function parseKeyFile(text: string, path: string) {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = KeyFile.safeParse(json);
  if (!parsed.success)
    throw new KeyFileError(`${path} is not a Cocoon key file; move it away to make a new key`);
  return parsed.data;
}

/** The file names the key it holds: a file moved to another name does not open. */
const associatedData = (name: string) => Buffer.from(`cocoon/key-file/v2\n${name}`);

async function serialize(
  secretKey: Uint8Array,
  name: string,
  passphrase: string | undefined,
): Promise<string> {
  if (passphrase === undefined) return JSON.stringify({ v: 1, secretKey: toHex(secretKey) });
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const key = await derive(passphrase, salt, KDF);
  const cipher = createCipheriv('aes-256-gcm', key, nonce).setAAD(associatedData(name));
  const ciphertext = Buffer.concat([cipher.update(secretKey), cipher.final(), cipher.getAuthTag()]);
  const file: SealedKeyFile = {
    v: 2,
    kdf: KDF,
    salt: salt.toString('hex'),
    nonce: nonce.toString('hex'),
    ciphertext: ciphertext.toString('hex'),
  };
  return JSON.stringify(file);
}

async function open(
  file: SealedKeyFile,
  name: string,
  passphrase: string,
  path: string,
): Promise<Uint8Array> {
  const key = await derive(passphrase, Buffer.from(file.salt, 'hex'), file.kdf);
  const sealed = Buffer.from(file.ciphertext, 'hex');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(file.nonce, 'hex'))
    .setAAD(associatedData(name))
    .setAuthTag(sealed.subarray(32));
  try {
    return new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(0, 32)), decipher.final()]));
  } catch {
    throw new KeyFileError(`${path} does not open with this COCOON_KEY_PASSPHRASE (or the file was changed)`);
  }
}

function derive(passphrase: string, salt: Buffer, kdf: { N: number; r: number; p: number }): Promise<Buffer> {
  // scrypt needs 128 · N · r bytes; Node refuses more than maxmem (32 MiB by default) unless told.
  return deriveKey(passphrase, salt, 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r });
}

/** Writes the file anew beside the old one, then moves it into place: a crash leaves one or the other. */
async function replace(path: string, text: string): Promise<void> {
  const next = `${path}.next`;
  await writeFile(next, text, { mode: 0o600 });
  await rename(next, path);
}
