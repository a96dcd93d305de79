import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Address, beginCell, type Transaction, toNano } from '@ton/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NetworkChain, type TonClientLike } from '../src/chain/network.js';
import { SandboxChain } from '../src/chain/sandbox.js';
import {
  type ChargeEvent,
  type ChargeUndoneEvent,
  ClientContractWatcher,
  FileCursorStore,
  type TopUpEvent,
} from '../src/chain/watcher.js';
import { ensureProxy, ensureRoot } from '../src/deploy.js';
import { type ClientConfig, ClientContract, signCharge } from '../wrappers/Client.js';
import { ProxyContract } from '../wrappers/Proxy.js';
import { DEFAULT_ROOT_PARAMS } from '../wrappers/Root.js';
import { codes, firstCredit, newKeyPair } from './helpers.js';

describe('SandboxChain and the top-up watcher', () => {
  let dir: string;
  let clock: number;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cocoon-chain-'));
    clock = Math.floor(Date.now() / 1000) + 60; // ahead of the system time the sandbox stamps new wallets with
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const openChain = () => SandboxChain.open({ dataDir: dir, clock: () => clock });

  /** A watcher over the client's transactions from the start that keeps every event it reports. */
  function collectingWatcher(chain: SandboxChain, client: Address) {
    const topUps: TopUpEvent[] = [];
    const charges: ChargeEvent[] = [];
    const undone: ChargeUndoneEvent[] = [];
    const watcher = new ClientContractWatcher({
      chain,
      client,
      cursor: new FileCursorStore(join(dir, 'collecting-cursor.json')),
      onTopUp: async (event) => {
        topUps.push(event);
      },
      onCharge: async (event) => {
        charges.push(event);
      },
      onChargeUndone: async (event) => {
        undone.push(event);
      },
    });
    return { watcher, topUps, charges, undone };
  }

  async function deployClient(chain: SandboxChain) {
    const c = await codes();
    const keys = await newKeyPair();
    const proxy = chain.open(
      ProxyContract.createFromConfig(
        {
          owner: chain.wallet,
          root: chain.wallet,
          publicKey: keys.publicKey,
          closeDelay: 60,
          clientCloseDelay: 60,
          clientCode: c.client,
          workerCode: c.worker,
        },
        c.proxy,
      ),
    );
    await proxy.sendAddStake(chain.sender, { value: toNano('15') });
    const config: ClientConfig = {
      owner: chain.wallet,
      clientPublicKey: keys.publicKey,
      closeDelay: 60,
      proxy: proxy.address,
      proxyPublicKey: keys.publicKey,
    };
    const client = ClientContract.createFromConfig(config, c.client);
    const opened = chain.open(client);
    /** A Charge signed with the client's key, or with `secretKey`. */
    const charge = (total: bigint, queryId: bigint, secretKey = keys.secretKey) =>
      opened.sendCharge(chain.sender, {
        total,
        queryId,
        signature: signCharge({ client: client.address, total, queryId, secretKey }),
      });
    return { client, opened, charge, proxy };
  }

  it('keeps balances, contract state and its clock across a restart', async () => {
    let chain = await openChain();
    const { client } = await deployClient(chain);
    await chain.open(client).sendTopUp(chain.sender, { value: toNano('3'), reference: 1n });
    const balance = await chain.getBalance(client.address);
    const wallet = chain.wallet;
    clock += 100;
    await chain.open(client).sendTopUp(chain.sender, { value: toNano('1') });
    await chain.close();

    chain = await openChain();
    expect(chain.wallet.equals(wallet)).toBe(true);
    expect(await chain.isDeployed(client.address)).toBe(true);
    expect(await chain.getBalance(client.address)).toBeGreaterThan(balance);
    const state = await chain.open(ClientContract.createFromAddress(client.address)).getState();
    expect(state.balance).toBeGreaterThan(firstCredit(toNano('3')));
    expect(await chain.now()).toBe(clock);
    clock -= 50; // the chain's clock never goes back
    await chain.open(client).sendRequestRefund(chain.sender);
    expect((await chain.open(client).getState()).closeAt).toBe(clock + 50 + 60);
  });

  it('deploys the Root and a Proxy contract once', async () => {
    const chain = await SandboxChain.open({ clock: () => clock });
    const root = await ensureRoot(chain, { owner: chain.wallet, params: DEFAULT_ROOT_PARAMS });
    const again = await ensureRoot(chain, { owner: chain.wallet, params: DEFAULT_ROOT_PARAMS });
    expect(again.address.equals(root.address)).toBe(true);
    expect(await root.getParams()).toEqual(DEFAULT_ROOT_PARAMS);
    const keys = await newKeyPair();
    const proxyConfig = {
      owner: chain.wallet,
      root: root.address,
      publicKey: keys.publicKey,
      closeDelay: 60,
      clientCloseDelay: 60,
    };
    const proxy = await ensureProxy(chain, { ...proxyConfig, stake: toNano('15') });
    await ensureProxy(chain, { ...proxyConfig, stake: toNano('15') });
    expect((await proxy.getState()).stake).toBe(firstCredit(toNano('15')));
  });

  it('works in memory with a clock behind the system time', async () => {
    const chain = await SandboxChain.open({ clock: () => 1_780_000_000 });
    const { client } = await deployClient(chain);
    await chain.transfer({ to: client.address, value: toNano('1'), init: client.init });
    expect(await chain.isDeployed(client.address)).toBe(true);
    expect(await chain.now()).toBeGreaterThanOrEqual(1_780_000_000);
  });

  it('reports each top-up once, from a persisted cursor, across failures and restarts', async () => {
    let chain = await openChain();
    const { client } = await deployClient(chain);
    const cursorPath = join(dir, 'watch', 'cursor.json');
    const seen: TopUpEvent[] = [];
    let failNext = false;
    const watcher = (c: SandboxChain) =>
      new ClientContractWatcher({
        chain: c,
        client: client.address,
        cursor: new FileCursorStore(cursorPath),
        batch: 2,
        onTopUp: async (event) => {
          if (failNext) {
            failNext = false;
            throw new Error('ledger down');
          }
          seen.push(event);
        },
      });

    const opened = chain.open(client);
    await opened.sendTopUp(chain.sender, { value: toNano('2'), reference: 77n, queryId: 1n });
    await opened.sendTopUp(chain.sender, { value: toNano('1'), reference: 'user:alice' });
    await chain.transfer({
      to: client.address,
      value: toNano('0.5'),
      body: beginCell().storeUint(0, 32).storeStringTail('hi').endCell(),
    });
    await opened.sendTopUp(chain.sender, { value: 1000n }); // refused on-chain: not a top-up
    await opened.sendWithdraw(chain.sender, { amount: 1n }); // another op: not a top-up

    expect(await watcher(chain).poll()).toBe(3);
    expect(seen.map((e) => [e.value, e.reference, e.comment])).toEqual([
      [toNano('2'), 77n, undefined],
      [toNano('1'), 'user:alice', undefined],
      [toNano('0.5'), undefined, 'hi'],
    ]);
    expect(seen[0]?.queryId).toBe(1n);
    expect(seen[0]?.from.equals(chain.wallet)).toBe(true);
    expect(new Set(seen.map((e) => `${e.lt}:${e.hash}`)).size).toBe(3);
    expect(await watcher(chain).poll()).toBe(0);

    await opened.sendTopUp(chain.sender, { value: toNano('4'), reference: 5n });
    await opened.sendTopUp(chain.sender, { value: toNano('6'), reference: 6n });
    failNext = true;
    await expect(watcher(chain).poll()).rejects.toThrow('ledger down');
    expect(seen).toHaveLength(3);

    await chain.close();
    chain = await openChain();
    expect(await watcher(chain).poll()).toBe(2);
    expect(seen.slice(3).map((e) => e.reference)).toEqual([5n, 6n]);
    expect(await watcher(chain).poll()).toBe(0);
  });
  it('reports each Charge the contract accepted, with its total and transaction, and no refused one', async () => {
    const chain = await openChain();
    const { client, opened, charge } = await deployClient(chain);
    await opened.sendTopUp(chain.sender, { value: toNano('3'), reference: 1n });
    await charge(toNano('1'), 1n);
    await charge(toNano('1.5'), 2n, (await newKeyPair()).secretKey); // not the client's signature: aborts
    await charge(toNano('0.5'), 3n); // below the charged total: aborts
    await charge(toNano('2'), 4n);
    expect((await opened.getState()).chargedTotal).toBe(toNano('2'));

    const { watcher, topUps, charges } = collectingWatcher(chain, client.address);
    expect(await watcher.poll()).toBe(3);
    expect(topUps.map((e) => e.reference)).toEqual([1n]);
    expect(charges.map((e) => [e.total, e.queryId])).toEqual([
      [toNano('1'), 1n],
      [toNano('2'), 4n],
    ]);
    // Each event names the Charge transaction itself, one that did not abort.
    const history = chain.history(client.address);
    for (const event of charges) {
      const tx = history.find((t) => t.lt.toString() === event.lt);
      expect(tx?.hash().toString('hex')).toBe(event.hash);
      expect(tx?.description.type === 'generic' && !tx.description.aborted).toBe(true);
      expect(event.client.equals(client.address)).toBe(true);
    }
    const refused = history.filter((t) => t.description.type === 'generic' && t.description.aborted);
    expect(refused).toHaveLength(2);
    expect(await watcher.poll()).toBe(0);
  });

  it('reports a Charge undone when the Proxy contract refused its payment (a closed proxy)', async () => {
    const chain = await openChain();
    const { client, opened, charge, proxy } = await deployClient(chain);
    await opened.sendTopUp(chain.sender, { value: toNano('3'), reference: 1n });
    await charge(toNano('1'), 1n);
    await proxy.sendRequestClose(chain.sender);
    clock += 60;
    await proxy.sendClose(chain.sender);
    await charge(toNano('1.5'), 2n);
    // the payment bounced: the Client contract undid the second Charge
    expect((await opened.getState()).chargedTotal).toBe(toNano('1'));

    const { watcher, charges, undone } = collectingWatcher(chain, client.address);
    expect(await watcher.poll()).toBe(4);
    expect(charges.map((e) => e.queryId)).toEqual([1n, 2n]);
    expect(undone.map((e) => [e.queryId, e.amount])).toEqual([[2n, toNano('0.5')]]);
    const bounce = chain.history(client.address).find((t) => t.lt.toString() === undone[0]?.lt);
    expect(bounce?.inMessage?.info.type === 'internal' && bounce.inMessage.info.bounced).toBe(true);
    expect(await watcher.poll()).toBe(0);
  });
});

describe('NetworkChain.transactionsSince', () => {
  function fakeTx(lt: number): Transaction {
    const hash = Buffer.alloc(32, lt % 256);
    return { lt: BigInt(lt), hash: () => hash } as unknown as Transaction;
  }

  /** Newest first, paged by (lt, hash) exclusive, like toncenter. */
  function fakeClient(history: Transaction[]): TonClientLike {
    return {
      open: ((contract: unknown) => ({
        ...(contract as object),
        address: (contract as { address: Address }).address,
      })) as never,
      getBalance: async () => 0n,
      isContractDeployed: async () => true,
      getTransactions: async (_address: Address, opts: { limit: number; lt?: string }) => {
        const newestFirst = [...history].reverse();
        const start = opts.lt ? newestFirst.findIndex((tx) => tx.lt === BigInt(opts.lt ?? 0)) + 1 : 0;
        return newestFirst.slice(start, start + opts.limit);
      },
    };
  }

  it('pages back to the cursor and returns what follows it, oldest first', async () => {
    const history = Array.from({ length: 250 }, (_, i) => fakeTx(1000 + i * 3));
    const keys = await newKeyPair();
    const chain = new NetworkChain('testnet', fakeClient(history), keys, {
      confirmTimeoutMs: 1,
      pollIntervalMs: 1,
    });
    const ltsOf = (txs: Transaction[]) => txs.map((tx) => Number(tx.lt));

    expect(ltsOf(await chain.transactionsSince(chain.wallet, undefined, 3))).toEqual([1000, 1003, 1006]);
    const cursor = { lt: '1030', hash: Buffer.alloc(32, 1030 % 256).toString('hex') };
    expect(ltsOf(await chain.transactionsSince(chain.wallet, cursor, 2))).toEqual([1033, 1036]);
    const all = await chain.transactionsSince(chain.wallet, cursor, 1000);
    expect(all).toHaveLength(250 - 11);
    expect(ltsOf(all).at(-1)).toBe(1000 + 249 * 3);
    const last = history.at(-1) as Transaction;
    expect(
      await chain.transactionsSince(
        chain.wallet,
        { lt: last.lt.toString(), hash: last.hash().toString('hex') },
        10,
      ),
    ).toEqual([]);
  });
});
