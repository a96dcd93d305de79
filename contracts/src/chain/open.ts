import type { Config } from '@cocoon/shared';
// Node-only: picks the chain adapter from configuration (embedded sandbox by default).
import { z } from 'zod';
import { NetworkChain, networkChainOptionsSchema } from './network.js';
import type { Chain } from './types.js';

export const chainOptionsSchema = z.discriminatedUnion('network', [
  z.object({
    network: z.literal('sandbox'),
    dataDir: z.string().min(1).optional(),
    walletSeed: z.string().optional(),
  }),
  // the local chain through its JSON-RPC is opened with NetworkChain.connect by the processes that need it
  networkChainOptionsSchema.extend({ network: z.enum(['testnet', 'mainnet']) }),
]);
export type ChainOptions = z.input<typeof chainOptionsSchema>;

export async function openChain(options: ChainOptions): Promise<Chain> {
  const o = chainOptionsSchema.parse(options);
  if (o.network === 'sandbox') {
    // imported here so that testnet and mainnet never load @ton/sandbox's TVM emulator
    const { SandboxChain } = await import('./sandbox.js');
    return SandboxChain.open({ dataDir: o.dataDir, walletSeed: o.walletSeed });
  }
  return NetworkChain.connect(o);
}

/**
 * Chain options from the environment: TON_NETWORK (sandbox | testnet | mainnet, default sandbox),
 * TON_ENDPOINT, TON_API_KEY, TON_MNEMONIC (24 words) for real networks; `dataDir` for the sandbox.
 */
/** Chain options from Cocoon's settings (see shared/src/config.ts). */
export function chainOptionsFromConfig(
  config: Pick<Config, 'TON_NETWORK' | 'TON_ENDPOINT' | 'TON_API_KEY' | 'TON_MNEMONIC' | 'COCOON_DATA_DIR'>,
): ChainOptions {
  const network = config.TON_NETWORK;
  if (network === 'sandbox') return { network, dataDir: config.COCOON_DATA_DIR };
  return chainOptionsSchema.parse({
    network,
    endpoint:
      config.TON_ENDPOINT ??
      (network === 'testnet'
        ? 'https://testnet.toncenter.com/api/v2/jsonRPC'
        : 'https://toncenter.com/api/v2/jsonRPC'),
    apiKey: config.TON_API_KEY,
    mnemonic: (config.TON_MNEMONIC ?? '').trim().split(/\s+/).filter(Boolean),
  });
}
