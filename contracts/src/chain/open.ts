// Node-only: picks the chain adapter from configuration (embedded sandbox by default).
import { z } from 'zod';
import { NetworkChain, networkChainOptionsSchema } from './network.js';
import { SandboxChain } from './sandbox.js';
import type { Chain } from './types.js';

export const chainOptionsSchema = z.discriminatedUnion('network', [
  z.object({
    network: z.literal('sandbox'),
    dataDir: z.string().min(1).optional(),
    walletSeed: z.string().optional(),
  }),
  networkChainOptionsSchema,
]);
export type ChainOptions = z.input<typeof chainOptionsSchema>;

export async function openChain(options: ChainOptions): Promise<Chain> {
  const o = chainOptionsSchema.parse(options);
  if (o.network === 'sandbox') return SandboxChain.open({ dataDir: o.dataDir, walletSeed: o.walletSeed });
  return NetworkChain.connect(o);
}

/**
 * Chain options from the environment: TON_NETWORK (sandbox | testnet | mainnet, default sandbox),
 * TON_ENDPOINT, TON_API_KEY, TON_MNEMONIC (24 words) for real networks; `dataDir` for the sandbox.
 */
export function chainOptionsFromEnv(env: NodeJS.ProcessEnv, dataDir: string): ChainOptions {
  const network = env.TON_NETWORK ?? 'sandbox';
  if (network === 'sandbox') return { network, dataDir };
  return chainOptionsSchema.parse({
    network,
    endpoint:
      env.TON_ENDPOINT ??
      (network === 'testnet'
        ? 'https://testnet.toncenter.com/api/v2/jsonRPC'
        : 'https://toncenter.com/api/v2/jsonRPC'),
    apiKey: env.TON_API_KEY,
    mnemonic: (env.TON_MNEMONIC ?? '').trim().split(/\s+/).filter(Boolean),
  });
}
