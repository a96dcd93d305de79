// Node-only: a wallet mnemonic made on first use and kept in the data folder, for the local chain (where
// TON_MNEMONIC, the user's real wallet, has no business). Never printed: whoever reads it spends the wallet.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readJsonFile } from '@cocoon/shared/json-file';
import { mnemonicNew, mnemonicValidate } from '@ton/crypto';
import { z } from 'zod';

const WalletFile = z.object({ v: z.literal(1), mnemonic: z.array(z.string().min(1)).length(24) });

/**
 * The 24 words in `<dataDir>/<name>-wallet.json` (owner-only), made on first use. The file is created
 * exclusively, so two processes starting at once (npm start and the CLI) end up with the same words.
 */
export async function loadOrCreateMnemonic(dataDir: string, name: string): Promise<string[]> {
  const path = join(dataDir, `${name}-wallet.json`);
  const load = async () => {
    const existing = await readJsonFile(path, WalletFile);
    if (existing !== undefined && !(await mnemonicValidate(existing.mnemonic)))
      throw new Error(`${path} does not hold a valid TON mnemonic; move it away to make a new wallet`);
    return existing?.mnemonic;
  };
  const existing = await load();
  if (existing !== undefined) return existing;
  const mnemonic = await mnemonicNew(24);
  await mkdir(dataDir, { recursive: true });
  try {
    await writeFile(path, JSON.stringify({ v: 1, mnemonic }), { mode: 0o600, flag: 'wx' });
    return mnemonic;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // another process made it first: use its words
  const theirs = await load();
  if (theirs === undefined) throw new Error(`${path} vanished while it was being made`);
  return theirs;
}
