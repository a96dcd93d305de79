import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../src/bytes.js';
import { loadOrCreateKey } from '../src/key-file.js';

const PASSPHRASE = 'correct horse battery staple';
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cocoon-keys-'));
  dirs.push(dir);
  return dir;
}

describe('loadOrCreateKey', () => {
  it('without a passphrase keeps the key in the clear, readable by its owner only, and loads it back', async () => {
    const dir = await dataDir();
    const made = await loadOrCreateKey(dir, 'client');
    const path = join(dir, 'client-key.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ v: 1, secretKey: toHex(made.secretKey) });
    expect(await loadOrCreateKey(dir, 'client')).toEqual(made);
  });

  it('with a passphrase keeps it encrypted, and opens it with that passphrase only', async () => {
    const dir = await dataDir();
    const made = await loadOrCreateKey(dir, 'proxy', { passphrase: PASSPHRASE });
    const path = join(dir, 'proxy-key.json');
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain(toHex(made.secretKey));
    expect(JSON.parse(text)).toMatchObject({ v: 2, kdf: { name: 'scrypt' } });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateKey(dir, 'proxy', { passphrase: PASSPHRASE })).toEqual(made);
    await expect(loadOrCreateKey(dir, 'proxy')).rejects.toThrow(/is encrypted: set COCOON_KEY_PASSPHRASE/);
    await expect(loadOrCreateKey(dir, 'proxy', { passphrase: `${PASSPHRASE}!` })).rejects.toThrow(
      /does not open with this COCOON_KEY_PASSPHRASE/,
    );
    // A file copied under another key's name does not open as that key.
    await writeFile(join(dir, 'client-key.json'), text);
    await expect(loadOrCreateKey(dir, 'client', { passphrase: PASSPHRASE })).rejects.toThrow(/does not open/);
  });

  it('encrypts a key written in the clear the first time it is loaded with a passphrase', async () => {
    const dir = await dataDir();
    const made = await loadOrCreateKey(dir, 'client');
    expect(await loadOrCreateKey(dir, 'client', { passphrase: PASSPHRASE })).toEqual(made);
    const text = await readFile(join(dir, 'client-key.json'), 'utf8');
    expect(JSON.parse(text)).toMatchObject({ v: 2 });
    expect(text).not.toContain(toHex(made.secretKey));
    expect(await loadOrCreateKey(dir, 'client', { passphrase: PASSPHRASE })).toEqual(made);
  });

  it('refuses a file that is not a key file, and a planted one asking for gigabytes of scrypt', async () => {
    const dir = await dataDir();
    await writeFile(join(dir, 'broken-key.json'), '{ not json');
    await expect(loadOrCreateKey(dir, 'broken')).rejects.toThrow(/is not a Cocoon key file/);
    await loadOrCreateKey(dir, 'heavy', { passphrase: PASSPHRASE });
    const path = join(dir, 'heavy-key.json');
    const file = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...file, kdf: { ...file.kdf, N: 2 ** 24 } }));
    await expect(loadOrCreateKey(dir, 'heavy', { passphrase: PASSPHRASE })).rejects.toThrow(
      /is not a Cocoon key file/,
    );
  });
});
