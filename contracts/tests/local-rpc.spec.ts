import { Address, beginCell, storeMessage, toNano } from '@ton/core';
import { mnemonicNew, mnemonicToPrivateKey } from '@ton/crypto';
import { internal } from '@ton/sandbox';
import { TonClient } from '@ton/ton';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChainRpcServer, serveChainRpc } from '../src/chain/local-rpc.js';
import { NetworkChain } from '../src/chain/network.js';
import { SandboxChain } from '../src/chain/sandbox.js';
import { ensureRoot } from '../src/deploy.js';
import { topUpCredit } from '../src/fees.js';
import { ClientContract } from '../wrappers/Client.js';
import { DEFAULT_ROOT_PARAMS, RootContract } from '../wrappers/Root.js';
import { codes, newKeyPair } from './helpers.js';

let chain: SandboxChain;
let rpc: ChainRpcServer;
let client: TonClient;
let root: RootContract;
/** A wallet v5r1 of its own, driven through the RPC exactly as NetworkChain drives toncenter. */
let remote: NetworkChain;

const MODEL = 0xabcdefn;

beforeAll(async () => {
  // the system clock: wallet v5r1 messages expire 60 s after the sender's time
  chain = await SandboxChain.open();
  const opened = await ensureRoot(chain, { owner: chain.wallet, params: DEFAULT_ROOT_PARAMS });
  await opened.sendSetModel(chain.sender, { modelHash: MODEL, priceCoefficient: 15000 });
  root = RootContract.createFromAddress(opened.address);
  rpc = await serveChainRpc(chain, { port: 0 });
  client = new TonClient({ endpoint: rpc.url });
  remote = await NetworkChain.connect({
    network: 'sandbox',
    endpoint: rpc.url,
    mnemonic: await mnemonicNew(24),
    pollIntervalMs: 20,
    confirmTimeoutMs: 10_000,
  });
  await chain.transfer({ to: remote.wallet, value: toNano('10'), bounce: false });
});

afterAll(async () => {
  await rpc?.close();
  await chain?.close();
});

const rpcCall = (body: unknown, contentType = 'application/json') =>
  fetch(rpc.url, { method: 'POST', headers: { 'content-type': contentType }, body: JSON.stringify(body) });

describe('the local chain over toncenter v2 JSON-RPC, read by @ton/ton TonClient', () => {
  it('listens on loopback only', () => {
    expect(new URL(rpc.url).hostname).toBe('127.0.0.1');
  });

  it('reports balances and deployment as the sandbox holds them', async () => {
    expect(await client.getBalance(chain.wallet)).toBe(await chain.getBalance(chain.wallet));
    expect(await client.getBalance(remote.wallet)).toBe(toNano('10'));
    expect(await client.isContractDeployed(root.address)).toBe(true);
    // funded but never sent from: a wallet exists, uninitialised, until its first message
    expect(await client.isContractDeployed(remote.wallet)).toBe(false);
    const state = await client.getContractState(root.address);
    expect(state.state).toBe('active');
    expect(BigInt(state.lastTransaction?.lt ?? 0)).toBeGreaterThan(0n);
  });

  it('runs get methods with every kind of argument and result the wrappers use', async () => {
    const local = chain.open(root);
    const overRpc = client.open(root);
    // addresses and a null (slices), integers, a boolean (-1), dictionaries (cells) and an integer argument
    const [state, expected] = [await overRpc.getState(), await local.getState()];
    expect(state.owner.equals(expected.owner)).toBe(true);
    expect(state.pendingOwner).toBeNull();
    expect(state.version).toBe(expected.version);
    expect(await overRpc.getParams()).toEqual(await local.getParams());
    expect(await overRpc.getLists()).toEqual(await local.getLists());
    expect(await overRpc.getModelCoefficient(MODEL)).toBe(15000);
    expect(await overRpc.getModelCoefficient(MODEL + 1n)).toBe(0);
    expect(await overRpc.getIsProxyRegistered(chain.wallet)).toBe(false);
    // a get method that does not exist is an exit code, as toncenter answers it
    const missing = await client.runMethodWithError(root.address, 'no_such_method');
    expect(missing.exit_code).not.toBe(0);
    await expect(client.runMethod(remote.wallet, 'seqno')).rejects.toThrow();
  });

  it('takes a wallet send, runs what it causes, and serves the transactions after it', async () => {
    const c = await codes();
    const owner = remote.wallet;
    const contract = ClientContract.createFromConfig(
      {
        owner,
        clientPublicKey: (await newKeyPair()).publicKey,
        closeDelay: 60,
        proxy: chain.wallet,
        proxyPublicKey: (await newKeyPair()).publicKey,
      },
      c.client,
    );
    // the first top-up deploys the contract (NetworkChain's provider attaches the init when not deployed)
    await remote.open(contract).sendTopUp(remote.sender, { value: toNano('2') });
    expect(await remote.isDeployed(owner)).toBe(true);
    const first = await chain.open(contract).getState();
    await remote.open(contract).sendTopUp(remote.sender, { value: toNano('1') });
    const second = await remote.open(contract).getState();
    expect(second.balance - first.balance).toBe(topUpCredit(toNano('1')));

    await remote.open(contract).sendWithdraw(remote.sender, { amount: toNano('1') });
    expect((await chain.open(contract).getState()).balance).toBe(second.balance - toNano('1'));

    // history, newest first from TonClient and oldest first through NetworkChain's paging, as on the sandbox
    const direct = await chain.transactionsSince(contract.address, undefined, 10);
    expect(direct).toHaveLength(3);
    const paged = await remote.transactionsSince(contract.address, undefined, 10);
    expect(paged.map((tx) => tx.hash().toString('hex'))).toEqual(
      direct.map((tx) => tx.hash().toString('hex')),
    );
    const newest = await client.getTransactions(contract.address, { limit: 2 });
    expect(newest.map((tx) => tx.lt)).toEqual([direct[2]?.lt, direct[1]?.lt]);
    const older = await client.getTransactions(contract.address, {
      limit: 5,
      lt: newest[1]?.lt.toString(),
      hash: newest[1]?.hash().toString('base64'),
    });
    expect(older.map((tx) => tx.lt)).toEqual([direct[0]?.lt]);
    const after = await remote.transactionsSince(
      contract.address,
      { lt: direct[0]?.lt.toString() ?? '', hash: direct[0]?.hash().toString('hex') ?? '' },
      10,
    );
    expect(after.map((tx) => tx.lt)).toEqual([direct[1]?.lt, direct[2]?.lt]);
    // the wallet's own transactions are there too: its two top-ups, its withdrawal and the refund
    expect((await client.getTransactions(owner, { limit: 10 })).length).toBeGreaterThanOrEqual(4);
  });

  it('refuses a message the wallet does not accept, and keeps the chain as it was', async () => {
    const keys = await mnemonicToPrivateKey(await mnemonicNew(24));
    const stranger = new NetworkChain('sandbox', client, keys, { confirmTimeoutMs: 200, pollIntervalMs: 20 });
    const before = await chain.getBalance(chain.wallet);
    // an empty, never-deployed wallet cannot pay for its own deployment
    await expect(stranger.transfer({ to: chain.wallet, value: toNano('1') })).rejects.toThrow();
    expect(await chain.getBalance(chain.wallet)).toBe(before);
  });

  it('answers malformed requests with toncenter-style errors', async () => {
    const bad = await rpcCall({
      id: 1,
      jsonrpc: '2.0',
      method: 'getAddressBalance',
      params: { address: 'nope' },
    });
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ ok: false, id: 1, error: expect.stringContaining('address') });
    const unknown = await rpcCall({ id: 2, method: 'getConfigParam', params: {} });
    expect(unknown.status).toBe(422);
    expect(await unknown.json()).toMatchObject({
      ok: false,
      error: expect.stringContaining('getConfigParam'),
    });
    expect((await rpcCall({ id: 3, method: 'getAddressBalance', params: {} }, 'text/plain')).status).toBe(
      415,
    );
    // an internal message could claim any sender (an owner's Withdraw): only externals come from outside
    const forged = beginCell()
      .store(storeMessage(internal({ from: chain.wallet, to: remote.wallet, value: toNano('1') })))
      .endCell();
    const refused = await rpcCall({
      id: 5,
      method: 'sendBoc',
      params: { boc: forged.toBoc().toString('base64') },
    });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({
      ok: false,
      error: expect.stringContaining('only external'),
    });
    const balance = await rpcCall({
      id: 4,
      method: 'getAddressBalance',
      params: { address: Address.parse(chain.wallet.toString()).toRawString() },
    });
    expect(await balance.json()).toEqual({
      ok: true,
      result: (await chain.getBalance(chain.wallet)).toString(),
      id: 4,
      jsonrpc: '2.0',
    });
    expect((await fetch(rpc.url.replace('/api/v2/jsonRPC', '/'), { method: 'POST' })).status).toBe(404);
  });
});
