// The proxy settling on a network chain (NetworkChain, @ton/ton's TonClient) whose toncenter endpoint fails:
// 500s, replies lost after the message went through, calls that hang, slow calls. The endpoint is the real
// JSON-RPC over a sandbox chain (real contracts) behind a recording fault injector on loopback.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ClientContract,
  DEFAULT_ROOT_PARAMS,
  ensureRoot,
  loadContractCodes,
  NetworkChain,
  RootContract,
  WorkerContract,
} from '@cocoon/contracts';
import { type ChainRpcServer, SandboxChain, serveChainRpc } from '@cocoon/contracts/sandbox';
import {
  ClientError,
  CocoonClient,
  generateSigningKeyPair,
  loadConfig,
  type Receipt,
  toHex,
} from '@cocoon/shared';
import { MemoryVoucherStore } from '@cocoon/shared/client/voucher';
import type { Store } from '@cocoon/shared/store/index';
import { Address, toNano } from '@ton/core';
import { mnemonicNew } from '@ton/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyDb } from '../../src/db.js';
import { type ProxyOperator, startProxyOperator } from '../../src/operator.js';
import { StaticPolicySource } from '../../src/policy.js';
import { clientContractFor, workerContractFor } from '../../src/settlement/contracts.js';
import { devPolicy, type Harness, MODEL, openTestStore, startHarness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';
import { type EndpointFault, FaultyEndpoint } from './support.js';

let dir: string;
let chain: SandboxChain;
let rpc: ChainRpcServer;
let endpoint: FaultyEndpoint;
let operator: ProxyOperator;
let testStore: { store: Store<ProxyDb>; remove(): Promise<void> };
let harness: Harness;
/** The worker's payout address: its Worker contract is paid through the failing endpoint. */
const payout = `0:${toHex(generateSigningKeyPair().publicKey)}`;
let clients: { client: CocoonClient; contract: Address; receipts: Receipt[] }[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cocoon-chain-endpoint-'));
  chain = await SandboxChain.open();
  rpc = await serveChainRpc(chain, { port: 0 });
  endpoint = await FaultyEndpoint.start(rpc.url);
  const remote = await NetworkChain.connect({
    network: 'sandbox',
    endpoint: endpoint.url,
    mnemonic: await mnemonicNew(24),
    pollIntervalMs: 20,
    confirmTimeoutMs: 3_000,
  });
  await chain.transfer({ to: remote.wallet, value: toNano('30'), bounce: false });
  // the proxy operator owns the Root here, so it registers its own Proxy contract as on the sandbox
  const root = await ensureRoot(chain, { owner: remote.wallet, params: DEFAULT_ROOT_PARAMS });
  operator = await startProxyOperator(
    remote,
    remote.open(RootContract.createFromAddress(root.address)),
    loadConfig({ COCOON_DATA_DIR: dir, PROXY_CHARGE_THRESHOLD: '1', PROXY_PAYOUT_THRESHOLD: '1' }),
  );
  testStore = await openTestStore();
  harness = await startHarness(testStore.store, {
    policySource: new StaticPolicySource(devPolicy()),
    credit: operator.credit(testStore.store.db),
    settlement: {
      chain: operator.settlementChain,
      secretKey: operator.secretKey,
      settings: {
        ...operator.settings,
        tickMs: 100,
        resendAfterMs: 1_000,
        bounceWindowMs: 1_000,
        stateIntervalMs: 3_600_000,
      },
    },
  });
  await harness.worker({ payoutAddress: payout });
  clients = [];
  for (let i = 0; i < 2; i++) {
    const key = generateSigningKeyPair();
    const contract = chain.open(
      clientContractFor(operator.link, chain.wallet, toHex(key.publicKey), operator.clientCode),
    );
    await contract.sendTopUp(chain.sender, { value: toNano('1') });
    const client = new CocoonClient({
      proxyUrl: harness.proxy.url,
      clientKey: key,
      policy: devPolicy(),
      vouchers: {
        owner: chain.wallet.toString(),
        contract: contract.address.toString(),
        store: new MemoryVoucherStore(),
      },
    });
    clients.push({ client, contract: contract.address, receipts: [] });
  }
}, 90_000);

afterAll(async () => {
  await harness?.close();
  await testStore?.remove();
  await endpoint?.close();
  await rpc?.close();
  await chain?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs jobs; returns the errors of those refused (credit is read from the chain, which may be failing). */
async function jobs(perClient: number): Promise<unknown[]> {
  const refused: unknown[] = [];
  for (const entry of clients)
    for (let i = 0; i < perClient; i++) {
      try {
        const result = await entry.client.chat(
          { messages: [{ role: 'user', content: `settle me, job ${i}` }] },
          { model: MODEL, signal: AbortSignal.timeout(10_000) },
        );
        entry.receipts.push(result.receipt);
      } catch (error) {
        refused.push(error);
      }
    }
  return refused;
}

async function unsettled(): Promise<{ charge: number; payout: number }> {
  const gauge = await harness.proxy.metrics.registry
    .getSingleMetric('cocoon_proxy_unsettled_nanotons')
    ?.get();
  const of = (kind: string) => gauge?.values.find((v) => v.labels.kind === kind)?.value ?? Number.NaN;
  return { charge: of('charge'), payout: of('payout') };
}

const settled = async () => {
  const lag = await unsettled();
  return lag.charge === 0 && lag.payout === 0;
};

/**
 * Jobs metered and signed while the outbox is paused, then the fault, then the outbox again: settlement
 * meets the fault with totals to send, lags, and catches up once the endpoint is back.
 */
async function throughFault(fault: EndpointFault, holdMs: number): Promise<{ lag: number }> {
  const outbox = harness.proxy.settlement;
  if (outbox === undefined) throw new Error('the proxy does not settle');
  await outbox.stop();
  expect(await jobs(2)).toEqual([]);
  endpoint.fault = fault;
  outbox.start();
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  const lag = (await unsettled()).charge;
  endpoint.fault = 'none';
  await waitFor(settled, `settlement to catch up after "${fault}"`, 20_000);
  return { lag };
}

const describeErrors = (errors: unknown[]) =>
  [
    ...new Set(
      errors.map((e) => (e instanceof ClientError ? `${e.code}/${e.detail?.code}: ${e.message}` : String(e))),
    ),
  ].join('; ');

describe('settlement through a failing toncenter endpoint', () => {
  it('retries through 500s, lost replies, hangs and slowness; charges and pays each total once', async () => {
    await jobs(2);
    await waitFor(settled, 'the first settlement', 20_000);
    expect(endpoint.count('sendBoc')).toBeGreaterThan(0);

    const failing = await throughFault('error', 1_500);
    expect(failing.lag, 'settlement lag shows while the endpoint fails').toBeGreaterThan(0);
    expect(
      endpoint.count('runGetMethod', 'error') + endpoint.count('getAddressInformation', 'error'),
    ).toBeGreaterThan(1);

    // the riskiest one: the message lands but the proxy is told it failed; it must not pay twice (checked
    // to the nanoton below: it finds the total on the contract, or resends the same one)
    await throughFault('lose-reply', 1_500);
    expect(endpoint.count('sendBoc', 'lose-reply')).toBeGreaterThan(0);

    endpoint.hangMs = 1_000;
    const hanging = await throughFault('hang', 2_500);
    expect(hanging.lag).toBeGreaterThan(0);

    // jobs while the endpoint fails: a client's credit is read from its contract (cached for a few seconds)
    endpoint.fault = 'error';
    const refusedInOutage = await jobs(2);
    endpoint.fault = 'none';
    for (const error of refusedInOutage) expect(error).toBeInstanceOf(ClientError);
    await waitFor(settled, 'settlement after jobs in the outage', 20_000);

    endpoint.slowMs = 200;
    endpoint.fault = 'slow';
    await jobs(2);
    await waitFor(settled, 'settlement over a slow endpoint', 20_000);
    endpoint.fault = 'none';

    // to the nanoton: each Client contract charged what its client verified and signed, once
    for (const { client, contract, receipts } of clients) {
      const verified = receipts.reduce((sum, r) => sum + r.amount, 0n);
      const state = await chain.open(ClientContract.createFromAddress(contract)).getState();
      expect(state.chargedTotal, client.account).toBe(verified);
    }
    const earned = await testStore.store.db
      .selectFrom('proxy_worker_earnings')
      .select('earned')
      .where('payout_address', '=', Address.parse(payout).toRawString())
      .executeTakeFirstOrThrow();
    const { worker } = await loadContractCodes();
    const workerContract = chain.open(
      WorkerContract.createFromAddress(
        workerContractFor(operator.link, Address.parse(payout), worker).address,
      ),
    );
    expect((await workerContract.getState()).paidTotal).toBe(BigInt(earned.earned));
    const outbox = await testStore.store.db
      .selectFrom('proxy_outbox')
      .select(['status', 'attempts'])
      .execute();
    expect(outbox.every((row) => row.status === 'confirmed')).toBe(true);
    console.log(
      `chain endpoint: ${endpoint.calls.length} calls, ${endpoint.count('sendBoc')} sends ` +
        `(${endpoint.count('sendBoc', 'lose-reply')} with lost replies); lag during 500s ${failing.lag} nanotons, ` +
        `during hangs ${hanging.lag}; jobs refused in an outage ${refusedInOutage.length}/4 ` +
        `(${describeErrors(refusedInOutage)}); max attempts per outbox row ${Math.max(...outbox.map((r) => r.attempts))}`,
    );
  }, 120_000);
});
