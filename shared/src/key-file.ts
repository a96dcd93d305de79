import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  fromHex,
  generateSigningKeyPair,
  type SigningKeyPair,
  signingPublicKey,
  toHex,
} from '@cocoon/shared';
import { z } from 'zod';

const KeyFile = z.object({ v: z.literal(1), secretKey: z.string().regex(/^[0-9a-f]{64}$/) });

/**
 * An Ed25519 key made on first use and kept in the data folder as `<name>-key.json`, readable by its owner
 * only: a client account's key (it signs requests and cumulative totals: whoever holds it spends the
 * account's deposit) or a proxy operator's (it signs payouts). One key per program, so that programs
 * sharing a data folder never race on each other's cumulative totals.
 */
export async function loadOrCreateKey(dataDir: string, name: string): Promise<SigningKeyPair> {
  const path = join(dataDir, `${name}-key.json`);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) {
    const parsed = KeyFile.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${path} is not a Cocoon key file; move it away to make a new key`);
    const secretKey = fromHex(parsed.data.secretKey);
    return { secretKey, publicKey: signingPublicKey(secretKey) };
  }
  const keys = generateSigningKeyPair();
  await mkdir(dataDir, { recursive: true });
  await writeFile(path, JSON.stringify({ v: 1, secretKey: toHex(keys.secretKey) }), {
    mode: 0o600,
    flag: 'wx',
  });
  await chmod(path, 0o600);
  return keys;
}
