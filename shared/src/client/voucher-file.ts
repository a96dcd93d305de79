// Node-only by nature: keeps the client's latest voucher in a file (the cli's data folder), written
// atomically so a crash leaves the old total or the new one, never a torn file.
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from '../json-file.js';
import { hexBytes, Nanotons } from '../protocol/primitives.js';
import { QueryId, RawAddress, type VoucherState, type VoucherStore } from './voucher.js';

const StoredVoucher = z.object({
  contract: RawAddress,
  total: Nanotons,
  queryId: QueryId,
  signature: hexBytes(64),
});

export class FileVoucherStore implements VoucherStore {
  constructor(readonly path: string) {}

  load(): Promise<VoucherState | undefined> {
    return readJsonFile(this.path, StoredVoucher);
  }

  save(state: VoucherState): Promise<void> {
    return writeJsonFile(this.path, StoredVoucher, state);
  }
}
