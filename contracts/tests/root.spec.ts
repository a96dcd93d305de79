import { beginCell, Cell, toNano } from '@ton/core';
import type { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { runTolkCompiler } from '@ton/tolk-js';
import { beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, Op } from '../wrappers/constants.js';
import { DEFAULT_ROOT_PARAMS, RootContract } from '../wrappers/Root.js';
import { codes, createChain, expectTx } from './helpers.js';

describe('Root contract', () => {
  let chain: Blockchain;
  let owner: SandboxContract<TreasuryContract>;
  let stranger: SandboxContract<TreasuryContract>;
  let root: SandboxContract<RootContract>;

  beforeEach(async () => {
    chain = await createChain();
    owner = await chain.treasury('owner');
    stranger = await chain.treasury('stranger');
    root = chain.openContract(
      RootContract.createFromConfig(
        { owner: owner.address, params: DEFAULT_ROOT_PARAMS },
        (await codes()).root,
      ),
    );
    const result = await root.sendDeploy(owner.getSender());
    expectTx(result.transactions, { to: root.address, deploy: true, success: true });
  });

  it('exposes its initial state and parameters', async () => {
    const state = await root.getState();
    expect(state.owner.equals(owner.address)).toBe(true);
    expect(state.pendingOwner).toBeNull();
    expect(state.version).toBe(0);
    expect(await root.getParams()).toEqual(DEFAULT_ROOT_PARAMS);
    expect(await root.getLists()).toEqual({
      workerImages: [],
      proxyImages: [],
      models: new Map(),
      proxies: [],
    });
  });

  it('transfers ownership in two steps', async () => {
    const next = await chain.treasury('next-owner');
    let r = await root.sendTransferOwnership(owner.getSender(), { newOwner: next.address, queryId: 7n });
    expectTx(r.transactions, { from: root.address, to: owner.address, op: Op.excesses });
    expect((await root.getState()).pendingOwner?.equals(next.address)).toBe(true);
    expect((await root.getState()).owner.equals(owner.address)).toBe(true);

    r = await root.sendAcceptOwnership(stranger.getSender());
    expectTx(r.transactions, { to: root.address, success: false, exitCode: ExitCode.notPendingOwner });

    r = await root.sendAcceptOwnership(next.getSender());
    expectTx(r.transactions, { to: root.address, success: true });
    const state = await root.getState();
    expect(state.owner.equals(next.address)).toBe(true);
    expect(state.pendingOwner).toBeNull();

    r = await root.sendSetModel(owner.getSender(), { modelHash: 1n, priceCoefficient: 10000 });
    expectTx(r.transactions, { to: root.address, success: false, exitCode: ExitCode.notOwner });
  });

  it('refuses accepting ownership when no transfer is pending', async () => {
    const r = await root.sendAcceptOwnership(owner.getSender());
    expectTx(r.transactions, { to: root.address, success: false, exitCode: ExitCode.notPendingOwner });
  });

  it('adds and removes allowlist entries', async () => {
    const image = 0xaan;
    const proxyImage = 0xbbn;
    const model = 0xccn;
    await root.sendSetWorkerImage(owner.getSender(), { imageHash: image, allowed: true });
    await root.sendSetProxyImage(owner.getSender(), { imageHash: proxyImage, allowed: true });
    await root.sendSetModel(owner.getSender(), { modelHash: model, priceCoefficient: 15000 });
    await root.sendSetProxy(owner.getSender(), { proxy: stranger.address, allowed: true });

    expect(await root.getIsWorkerImageAllowed(image)).toBe(true);
    expect(await root.getIsWorkerImageAllowed(proxyImage)).toBe(false);
    expect(await root.getIsProxyImageAllowed(proxyImage)).toBe(true);
    expect(await root.getModelCoefficient(model)).toBe(15000);
    expect(await root.getModelCoefficient(image)).toBe(0);
    expect(await root.getIsProxyRegistered(stranger.address)).toBe(true);
    expect(await root.getIsProxyRegistered(owner.address)).toBe(false);
    const lists = await root.getLists();
    expect(lists.workerImages).toEqual([image]);
    expect(lists.proxyImages).toEqual([proxyImage]);
    expect(lists.models).toEqual(new Map([[model, 15000]]));
    expect(lists.proxies.map((a) => a.toString())).toEqual([stranger.address.toString()]);

    await root.sendSetWorkerImage(owner.getSender(), { imageHash: image, allowed: false });
    await root.sendSetProxyImage(owner.getSender(), { imageHash: proxyImage, allowed: false });
    await root.sendSetModel(owner.getSender(), { modelHash: model, priceCoefficient: 0 });
    await root.sendSetProxy(owner.getSender(), { proxy: stranger.address, allowed: false });
    expect(await root.getLists()).toEqual({
      workerImages: [],
      proxyImages: [],
      models: new Map(),
      proxies: [],
    });
  });

  it('changes parameters', async () => {
    const params = {
      ...DEFAULT_ROOT_PARAMS,
      pricePerToken: 25n,
      clientCloseDelay: 3600,
      minProxyStake: toNano('20'),
    };
    await root.sendSetParams(owner.getSender(), { params });
    expect(await root.getParams()).toEqual(params);
  });

  it('refuses a malformed parameter cell', async () => {
    const body = beginCell()
      .storeUint(Op.setParams, 32)
      .storeUint(0, 64)
      .storeRef(beginCell().storeUint(1, 8).endCell())
      .endCell();
    const r = await owner.send({ to: root.address, value: toNano('0.05'), body });
    expectTx(r.transactions, { to: root.address, success: false });
    expect(await root.getParams()).toEqual(DEFAULT_ROOT_PARAMS);
  });

  it('refuses every owner operation from a stranger', async () => {
    const via = stranger.getSender();
    const attempts = [
      () => root.sendTransferOwnership(via, { newOwner: stranger.address }),
      () => root.sendSetWorkerImage(via, { imageHash: 1n, allowed: true }),
      () => root.sendSetProxyImage(via, { imageHash: 1n, allowed: true }),
      () => root.sendSetModel(via, { modelHash: 1n, priceCoefficient: 1 }),
      () => root.sendSetProxy(via, { proxy: stranger.address, allowed: true }),
      () => root.sendSetParams(via, { params: { ...DEFAULT_ROOT_PARAMS, pricePerToken: 1n } }),
      () => root.sendUpgradeCode(via, { code: beginCell().endCell() }),
    ];
    for (const attempt of attempts) {
      const r = await attempt();
      expectTx(r.transactions, {
        from: stranger.address,
        to: root.address,
        success: false,
        exitCode: ExitCode.notOwner,
      });
    }
    expect((await root.getState()).owner.equals(owner.address)).toBe(true);
    expect(await root.getParams()).toEqual(DEFAULT_ROOT_PARAMS);
    expect((await root.getLists()).workerImages).toEqual([]);
  });

  it('refuses an owner operation that cannot pay its gas', async () => {
    const r = await root.sendSetModel(owner.getSender(), {
      modelHash: 1n,
      priceCoefficient: 1,
      value: 400_000n,
    });
    expectTx(r.transactions, { to: root.address, success: false, exitCode: ExitCode.notEnoughGas });
  });

  it('refuses unknown ops and accepts plain transfers', async () => {
    let r = await owner.send({
      to: root.address,
      value: toNano('0.05'),
      body: beginCell().storeUint(0x1234, 32).endCell(),
    });
    expectTx(r.transactions, { to: root.address, success: false, exitCode: ExitCode.unknownOp });
    r = await stranger.send({ to: root.address, value: toNano('0.05') });
    expectTx(r.transactions, { to: root.address, success: true });
  });

  it('upgrades its code', async () => {
    const upgraded = await runTolkCompiler({
      entrypointFileName: 'upgraded.tolk',
      fsReadCallback: () =>
        'fun onInternalMessage(in: InMessage) {}\nget fun upgraded_version(): int { return 2 }\n',
    });
    if (upgraded.status !== 'ok') throw new Error(upgraded.message);
    const r = await root.sendUpgradeCode(owner.getSender(), { code: Cell.fromBase64(upgraded.codeBoc64) });
    expectTx(r.transactions, { to: root.address, success: true });
    const { stack } = await chain.runGetMethod(root.address, 'upgraded_version');
    expect(stack[0]).toEqual({ type: 'int', value: 2n });
  });
});
