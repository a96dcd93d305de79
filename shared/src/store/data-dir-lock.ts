// Node-only by nature: guards a folder on the local disk with a pid file.
import { randomUUID } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { StoreError } from './errors.js';

export type DataDirLock = { readonly path: string; release(): Promise<void> };

/**
 * Takes `lockPath` for this process, since only one process may open a PGlite data folder. The file holds
 * the holder's pid; a lock whose pid is no longer alive (a crash, kill -9) is taken over.
 */
export async function lockDataDir(dataDir: string, lockPath: string): Promise<DataDirLock> {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await tryCreate(lockPath)) {
      return { path: lockPath, release: () => releaseLock(lockPath) };
    }
    const holder = await readHolder(lockPath);
    if (holder === undefined) continue; // released between our two steps: try again
    if (isAlive(holder)) {
      const self = holder === process.pid ? ' (this process)' : '';
      throw new StoreError(
        'data_dir_locked',
        `data folder ${dataDir} is in use by pid ${holder}${self}; stop that process first ` +
          `(or, if it does not use the folder, delete ${lockPath})`,
      );
    }
    // Re-read right before removing so that we only delete the dead holder's file, not a new owner's.
    if ((await readHolder(lockPath)) === holder) await unlink(lockPath).catch(ignoreMissing);
  }
  throw new StoreError('data_dir_locked', `could not take the lock ${lockPath} for data folder ${dataDir}`);
}

/** Writes the pid to a private file, then links it into place: the lock file never exists half-written. */
async function tryCreate(lockPath: string): Promise<boolean> {
  const draft = `${lockPath}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(draft, `${process.pid}\n`);
  try {
    await link(draft, lockPath);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(draft);
  }
}

async function readHolder(lockPath: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const pid = Number(text.trim());
  // A garbled file names nobody (pid 0 is never alive here), so it is taken over like a dead holder's.
  return Number.isSafeInteger(pid) && pid > 0 ? pid : 0;
}

function isAlive(pid: number): boolean {
  if (pid === 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function releaseLock(lockPath: string): Promise<void> {
  if ((await readHolder(lockPath)) === process.pid) await unlink(lockPath).catch(ignoreMissing);
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
