// A sandbox chain (real TVM, in memory) with a Root, a staked Proxy contract, a client that topped up its
// Client contract, and a worker wallet; plus receipts metered through the real Ledger.
import { DEFAULT_ROOT_PARAMS, ensureProxy, ensureRoot, loadContractCodes } from '@cocoon/contracts';
import { SandboxChain } from '@cocoon/contracts/sandbox';
import {
  generateSigningKeyPair,
  jobCost,
  type Receipt,
  randomBytes,
  type SigningKeyPair,
  signReceipt,
  toHex,
} from '@cocoon/shared';
import { toNano } from '@ton/core';
import type { Ledger } from '../../src/ledger.js';
import { clientContractFor, contractSettlement, type ProxyLink } from '../../src/settlement/contracts.js';

export const PRICE = DEFAULT_ROOT_PARAMS.pricePerToken;
export const WORKER_FEE = DEFAULT_ROOT_PARAMS.workerFeePerToken;
export const CLIENT_CLOSE_DELAY = 86_400;

export async function sandboxNetwork() {
  const chain = await SandboxChain.open();
  const codes = await loadContractCodes();
  const root = await ensureRoot(chain, { owner: chain.wallet, params: DEFAULT_ROOT_PARAMS });
  const proxyKey = generateSigningKeyPair();
  const proxyOwner = await chain.blockchain.treasury('proxy-owner');
  const proxy = await ensureProxy(chain, {
    owner: proxyOwner.address,
    root: root.address,
    publicKey: Buffer.from(proxyKey.publicKey),
    closeDelay: 86_400,
    clientCloseDelay: CLIENT_CLOSE_DELAY,
    stake: toNano('15'),
  });
  const link: ProxyLink = {
    proxy: proxy.address,
    proxyPublicKey: Buffer.from(proxyKey.publicKey),
    clientCloseDelay: CLIENT_CLOSE_DELAY,
  };
  const port = contractSettlement(chain, { link, proxy, root, codes });
  const workerOwner = await chain.blockchain.treasury('worker-owner');
  const workerKey = generateSigningKeyPair();

  /** A client whose owner wallet tops up its Client contract with `deposit` (none when 0). */
  async function client(seed: string, deposit: bigint) {
    const key = generateSigningKeyPair();
    const owner = await chain.blockchain.treasury(seed);
    const contract = chain.open(clientContractFor(link, owner.address, toHex(key.publicKey), codes.client));
    if (deposit > 0n) await contract.sendTopUp(owner.getSender(), { value: deposit });
    return { key, account: toHex(key.publicKey), owner, contract };
  }

  return { chain, codes, root, proxy, proxyKey, proxyOwner, link, port, workerOwner, workerKey, client };
}

export type SandboxNetwork = Awaited<ReturnType<typeof sandboxNetwork>>;

/** Meters one job through the real Ledger: a worker-signed receipt of `tokens` completion tokens. */
export async function meterJob(
  ledger: Ledger,
  client: string,
  worker: { key: SigningKeyPair; payoutAddress: string },
  tokens: number,
): Promise<Receipt> {
  const usage = { promptTokens: 1_000, completionTokens: tokens };
  const receipt: Receipt = {
    jobId: toHex(randomBytes(16)),
    client,
    model: toHex(randomBytes(32)),
    ...usage,
    pricePerToken: PRICE,
    amount: jobCost(usage, { pricePerToken: PRICE, promptMultiplier: 10_000, completionMultiplier: 10_000 }),
    requestHash: toHex(randomBytes(32)),
    responseHash: toHex(randomBytes(32)),
    worker: toHex(worker.key.publicKey),
    time: 1_800_000_000,
  };
  const { fresh } = await ledger.record(
    signReceipt(receipt, worker.key.secretKey),
    receipt,
    worker.payoutAddress,
  );
  if (!fresh) throw new Error('receipt recorded twice');
  return receipt;
}
