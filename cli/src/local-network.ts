// What `npm start` tells other local programs (the `cocoon` CLI) about the network it runs: written into the
// user's own data folder, so trusting it is trusting the user's own machine, not the proxy.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AttestationPolicy } from '@cocoon/shared';
import { z } from 'zod';

export const LocalNetwork = z.object({
  proxyUrl: z.url(),
  gatewayUrl: z.url(),
  rootAddress: z.string(),
  /** The proxy's Proxy contract: with the Root's params it fixes every Client contract of this proxy. */
  proxyContract: z.string(),
  /** The local chain as toncenter v2 JSON-RPC on loopback (sandbox only): how the CLI's wallet reaches it. */
  chainRpcUrl: z.url().optional(),
  /** The `cocoon` CLI's client account: its Client contract, owned by the CLI's wallet, funded by npm start. */
  cliAccount: z.object({ owner: z.string(), contract: z.string() }),
  policy: AttestationPolicy,
});
export type LocalNetwork = z.output<typeof LocalNetwork>;

const fileOf = (dataDir: string) => join(dataDir, 'network.json');

export async function writeLocalNetwork(dataDir: string, network: LocalNetwork): Promise<void> {
  await writeFile(fileOf(dataDir), `${JSON.stringify(network, null, 2)}\n`);
}

export async function readLocalNetwork(dataDir: string): Promise<LocalNetwork> {
  let text: string;
  try {
    text = await readFile(fileOf(dataDir), 'utf8');
  } catch {
    throw new Error(
      `no local network in ${dataDir}: start one with \`npm start\` (or set TON_NETWORK, ROOT_ADDRESS and PROXY_URL)`,
    );
  }
  const parsed = LocalNetwork.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(`${fileOf(dataDir)} was written by another version of Cocoon: restart \`npm start\``);
  return parsed.data;
}
