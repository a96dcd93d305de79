// `npm run bench -w @cocoon/contracts`: gas and fee of every op on @ton/sandbox with TON mainnet's
// June 2026 fee parameters, and the settlement fee per job when 1, 100 and 10,000 jobs settle at once.
import { type Address, type Transaction, toNano } from '@ton/core';
import { getSecureRandomBytes, keyPairFromSeed } from '@ton/crypto';
import {
  Blockchain,
  type SandboxContract,
  type SendMessageResult,
  type TreasuryContract,
} from '@ton/sandbox';
import { loadContractCodes } from '../src/compile.js';
import { basechainFeePrices, gasFee, mainnetFeeConfig } from '../src/fees.js';
import { ClientContract, signCharge, signCooperativeClose } from '../wrappers/Client.js';
import { GasBound } from '../wrappers/constants.js';
import { ProxyContract } from '../wrappers/Proxy.js';
import { DEFAULT_ROOT_PARAMS, RootContract } from '../wrappers/Root.js';
import { signPayout, WorkerContract } from '../wrappers/Worker.js';

const NANO = 1_000_000_000;
const config = mainnetFeeConfig();
const prices = basechainFeePrices(config);
const codes = await loadContractCodes();
const chain = await Blockchain.create({ config });
chain.now = 1_780_000_000;

const wallets = new Set<string>();
async function wallet(name: string): Promise<SandboxContract<TreasuryContract>> {
  const w = await chain.treasury(name, { balance: toNano('1000000') });
  wallets.add(w.address.toString());
  return w;
}

interface OpCost {
  op: string;
  gas: string;
  fee: bigint;
}
const rows: OpCost[] = [];

function computeGas(tx: Transaction): bigint {
  const d = tx.description;
  return d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.gasUsed : 0n;
}

/**
 * What an op costs beyond the sending wallet's own transaction: the forwarding fee of the wallet's
 * message, then every contract transaction's fees and the forwarding fees of what it sends.
 */
function opFee(result: SendMessageResult): bigint {
  let fee = 0n;
  for (const tx of result.transactions) {
    const to = tx.inMessage?.info.dest;
    const fromWallet =
      tx.inMessage?.info.type === 'internal' && wallets.has(tx.inMessage.info.src.toString());
    if (fromWallet && tx.inMessage?.info.type === 'internal') fee += tx.inMessage.info.forwardFee;
    if (!to || wallets.has(to.toString()) || tx.inMessage?.info.type !== 'internal') continue;
    fee += tx.totalFees.coins;
    for (const out of tx.outMessages.values()) if (out.info.type === 'internal') fee += out.info.forwardFee;
  }
  return fee;
}

function record(op: string, result: SendMessageResult, contracts: Address[]): bigint {
  const failed = result.transactions.find(
    (tx) =>
      tx.description.type === 'generic' &&
      tx.description.computePhase.type === 'vm' &&
      !tx.description.computePhase.success,
  );
  if (failed) throw new Error(`${op}: a transaction failed`);
  const gas = contracts
    .map((address) =>
      result.transactions.filter((tx) => tx.inMessage?.info.dest?.toString() === address.toString()),
    )
    .map((txs) =>
      txs
        .map(computeGas)
        .reduce((a, b) => a + b, 0n)
        .toString(),
    )
    .join(' + ');
  const fee = opFee(result);
  rows.push({ op, gas, fee });
  return fee;
}

const rootOwner = await wallet('root-owner');
const proxyOwner = await wallet('proxy-owner');
const clientOwner = await wallet('client-owner');
const workerOwner = await wallet('worker-owner');
const proxyKeys = keyPairFromSeed(await getSecureRandomBytes(32));
const clientKeys = keyPairFromSeed(await getSecureRandomBytes(32));

const root = chain.openContract(
  RootContract.createFromConfig({ owner: rootOwner.address, params: DEFAULT_ROOT_PARAMS }, codes.root),
);
record('root: deploy', await root.sendDeploy(rootOwner.getSender()), [root.address]);
record(
  'root: set model',
  await root.sendSetModel(rootOwner.getSender(), { modelHash: 1n, priceCoefficient: 10000 }),
  [root.address],
);
record(
  'root: set worker image',
  await root.sendSetWorkerImage(rootOwner.getSender(), { imageHash: 2n, allowed: true }),
  [root.address],
);
record('root: set params', await root.sendSetParams(rootOwner.getSender(), { params: DEFAULT_ROOT_PARAMS }), [
  root.address,
]);

const proxy = chain.openContract(
  ProxyContract.createFromConfig(
    {
      owner: proxyOwner.address,
      root: root.address,
      publicKey: proxyKeys.publicKey,
      closeDelay: DEFAULT_ROOT_PARAMS.proxyCloseDelay,
      clientCloseDelay: DEFAULT_ROOT_PARAMS.clientCloseDelay,
      clientCode: codes.client,
      workerCode: codes.worker,
    },
    codes.proxy,
  ),
);
record(
  'proxy: deploy with stake',
  await proxy.sendAddStake(proxyOwner.getSender(), { value: toNano('15') }),
  [proxy.address],
);
record(
  'root: register proxy',
  await root.sendSetProxy(rootOwner.getSender(), { proxy: proxy.address, allowed: true }),
  [root.address],
);

const clientConfig = {
  owner: clientOwner.address,
  clientPublicKey: clientKeys.publicKey,
  closeDelay: DEFAULT_ROOT_PARAMS.clientCloseDelay,
  proxy: proxy.address,
  proxyPublicKey: proxyKeys.publicKey,
};
const client = chain.openContract(ClientContract.createFromConfig(clientConfig, codes.client));
const worker = chain.openContract(
  WorkerContract.createFromConfig(
    { owner: workerOwner.address, proxy: proxy.address, proxyPublicKey: proxyKeys.publicKey },
    codes.worker,
  ),
);

record(
  'client: deploy by top-up',
  await client.sendTopUp(clientOwner.getSender(), { value: toNano('1000') }),
  [client.address],
);
record(
  'client: top-up, numeric reference',
  await client.sendTopUp(clientOwner.getSender(), { value: toNano('1'), reference: 1234567n }),
  [client.address],
);
record(
  'client: top-up, text reference',
  await client.sendTopUp(clientOwner.getSender(), { value: toNano('1'), reference: 'tg:12345678' }),
  [client.address],
);
record('client: add stake', await client.sendAddStake(clientOwner.getSender(), { value: toNano('15') }), [
  client.address,
]);
record('client: withdraw', await client.sendWithdraw(clientOwner.getSender(), { amount: toNano('1') }), [
  client.address,
]);
record('worker: deploy', await worker.sendDeploy(workerOwner.getSender()), [worker.address]);

let charged = 0n;
let paid = 0n;
async function charge(total: bigint): Promise<SendMessageResult> {
  charged = total;
  const signature = signCharge({ client: client.address, total, secretKey: clientKeys.secretKey });
  return client.sendCharge(proxyOwner.getSender(), { total, signature });
}
async function payout(total: bigint): Promise<SendMessageResult> {
  paid = total;
  const signature = signPayout({ worker: worker.address, total, secretKey: proxyKeys.secretKey });
  return worker.sendPayout(workerOwner.getSender(), { total, signature });
}

record('client: charge (client -> proxy)', await charge(toNano('1')), [client.address, proxy.address]);
record('worker: payout (worker -> proxy -> owner)', await payout(toNano('0.9')), [
  worker.address,
  proxy.address,
]);
record(
  'proxy: withdraw commission',
  await proxy.sendWithdrawCommission(proxyOwner.getSender(), { amount: toNano('0.05') }),
  [proxy.address],
);

// settlement per job: one charge and one payout cover any number of jobs
const JOB_PRICE = 20n * 1000n; // 1,000 tokens at 20 nanoTON
const WORKER_SHARE = 19n * 1000n;
const perJob: { jobs: number; fee: bigint }[] = [];
for (const jobs of [1, 100, 10_000]) {
  const start = rows.length;
  const chargeFee = record(`settle ${jobs} jobs: charge`, await charge(charged + JOB_PRICE * BigInt(jobs)), [
    client.address,
    proxy.address,
  ]);
  const payoutFee = record(`settle ${jobs} jobs: payout`, await payout(paid + WORKER_SHARE * BigInt(jobs)), [
    worker.address,
    proxy.address,
  ]);
  rows.splice(start, 2);
  perJob.push({ jobs, fee: (chargeFee + payoutFee) / BigInt(jobs) });
}

record('client: request refund', await client.sendRequestRefund(clientOwner.getSender()), [client.address]);
chain.now += DEFAULT_ROOT_PARAMS.clientCloseDelay;
record('client: forced refund', await client.sendForceRefund(clientOwner.getSender()), [client.address]);
await client.sendTopUp(clientOwner.getSender(), { value: toNano('1') });
const state = await client.getState();
record(
  'client: cooperative close',
  await client.sendCooperativeClose(clientOwner.getSender(), {
    total: state.chargedTotal,
    queryId: BigInt(state.closeSeqno),
    signature: signCooperativeClose({
      client: client.address,
      total: state.chargedTotal,
      closeSeqno: state.closeSeqno,
      secretKey: proxyKeys.secretKey,
    }),
  }),
  [client.address],
);
record('proxy: request close', await proxy.sendRequestClose(proxyOwner.getSender()), [proxy.address]);
chain.now += DEFAULT_ROOT_PARAMS.proxyCloseDelay;
record('proxy: close', await proxy.sendClose(proxyOwner.getSender()), [proxy.address]);

// storage: a year later, a plain transfer to each contract pays its storage fee
chain.now += 365 * 86_400;
const storagePerYear: { name: string; fee: bigint }[] = [];
for (const [name, address] of [
  ['root', root.address],
  ['client', client.address],
  ['worker', worker.address],
  ['proxy', proxy.address],
] as const) {
  const result = await rootOwner.send({ to: address, value: toNano('1') });
  const tx = result.transactions.find((t) => t.inMessage?.info.dest?.toString() === address.toString());
  const d = tx?.description;
  storagePerYear.push({
    name,
    fee: d?.type === 'generic' ? (d.storagePhase?.storageFeesCollected ?? 0n) : 0n,
  });
}

const ton = (nano: bigint) => (Number(nano) / NANO).toFixed(6);
console.log(
  `Fees at TON mainnet parameters of June 2026: ${Number(prices.gasPrice) / 65536} nanoTON per gas unit.\n`,
);
console.log(`${'op'.padEnd(42)} ${'gas (per contract)'.padEnd(20)} fee, TON`);
for (const row of rows) console.log(`${row.op.padEnd(42)} ${row.gas.padEnd(20)} ${ton(row.fee)}`);
console.log('\nSettlement fee per job (one charge + one payout, cumulative totals):');
for (const { jobs, fee } of perJob) {
  console.log(
    `  ${String(jobs).padStart(6)} jobs: ${String(fee).padStart(9)} nanoTON = ${(Number(fee) / NANO).toExponential(2)} TON per job`,
  );
}
const atScale = perJob.at(-1)?.fee ?? 0n;
const target = 10_000n; // 1e-5 TON
console.log(`  target <= 1e-5 TON per job at 10,000 jobs: ${atScale <= target ? 'met' : 'MISSED'}`);
console.log('\nStorage fee per year:');
for (const { name, fee } of storagePerYear) console.log(`  ${name.padEnd(7)} ${ton(fee)} TON`);
console.log('\nGas bounds the contracts require a message to pay (fees.tolk):');
for (const [name, gas] of Object.entries(GasBound))
  console.log(`  ${name.padEnd(14)} ${gas} gas = ${ton(gasFee(prices, gas))} TON`);
