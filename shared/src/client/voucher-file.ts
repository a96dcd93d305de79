// Node-only by nature: keeps the client's latest voucher in a file (the cli's data folder), written
// atomically so a crash leaves the old total or the new one, never a torn file.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { hexBytes, Nanotons } from '../protocol/primitives.js';
import { QueryId, RawAddress, type VoucherState, type VoucherStore } from './voucher.js';

const StoredVoucher = z.object({
  contract: RawAddress,
  total: Nanotons,
  queryId: QueryId,
  signature: hexBytes(64),
});

export class VoucherFileError extends Error {
  override readonly name = 'VoucherFileError';
}

export class FileVoucherStore implements VoucherStore {
  constructor(readonly path: string) {}

  async load(): Promise<VoucherState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new VoucherFileError(
        `${this.path} is not JSON; the signed total cannot be trusted to start from 0`,
      );
    }
    const parsed = StoredVoucher.safeParse(json);
    if (!parsed.success) {
      throw new VoucherFileError(`${this.path} does not hold a voucher: ${parsed.error.issues[0]?.message}`);
    }
    return parsed.data;
  }

  async save(state: VoucherState): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(z.encode(StoredVoucher, state)), { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
