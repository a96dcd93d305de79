import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../src/store/data-dir-lock.js';
import { StoreError } from '../../src/store/errors.js';

describe('data folder lock', () => {
  let dir: string;
  let lockPath: string;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cocoon-lock-test-'));
    lockPath = join(dir, 'pglite.lock');
  });

  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('writes our pid, leaves no draft behind, and removes the file on release', async () => {
    const lock = await lockDataDir(dir, lockPath);
    expect((await readFile(lockPath, 'utf8')).trim()).toBe(String(process.pid));
    expect(await readdir(dir)).toEqual(['pglite.lock']);
    await lock.release();
    expect(existsSync(lockPath)).toBe(false);
  });

  it('refuses while another live process holds it, and names that pid', async () => {
    child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    await writeFile(lockPath, `${child.pid}\n`);
    const failure = await lockDataDir(dir, lockPath).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).code).toBe('data_dir_locked');
    expect((failure as StoreError).message).toContain(`data folder ${dir} is in use by pid ${child.pid}`);
    expect((await readFile(lockPath, 'utf8')).trim()).toBe(String(child.pid));
  });

  it('takes over a garbled lock file', async () => {
    await writeFile(lockPath, 'not a pid');
    const lock = await lockDataDir(dir, lockPath);
    expect((await readFile(lockPath, 'utf8')).trim()).toBe(String(process.pid));
    await lock.release();
  });

  it('does not remove a lock that another process took after ours was taken over', async () => {
    const lock = await lockDataDir(dir, lockPath);
    await writeFile(lockPath, '4242424\n'); // as if a later owner replaced a lock it thought stale
    await lock.release();
    expect((await readFile(lockPath, 'utf8')).trim()).toBe('4242424');
  });
});
