import { beginCell, toNano } from '@ton/core';
import type { SandboxContract } from '@ton/sandbox';
import { beforeEach, describe, expect, it } from 'vitest';
import { signCharge } from '../wrappers/Client.js';
import { ExitCode, GasBound, MIN_STORAGE_RESERVE, Op, ProxyStatus } from '../wrappers/constants.js';
import { signPayout, WorkerContract } from '../wrappers/Worker.js';
import {
  type Actors,
  credited,
  expectConserved,
  expectTx,
  firstCredit,
  gasUsed,
  newKeyPair,
  outValue,
  PROXY_CLOSE_DELAY,
  PROXY_STAKE,
  setupActors,
  tonBalance,
} from './helpers.js';

describe('Proxy and Worker contracts', () => {
  let a: Actors;
  const stake = firstCredit(PROXY_STAKE);

  beforeEach(async () => {
    a = await setupActors();
    await a.worker.sendDeploy(a.workerOwner.getSender());
  });

  /** Client tops up and the proxy charges `total` from it. */
  async function fundProxy(total: bigint) {
    await a.client.sendTopUp(a.clientOwner.getSender(), { value: total + toNano('1') });
    const signature = signCharge({ client: a.client.address, total, secretKey: a.clientKeys.secretKey });
    const r = await a.client.sendCharge(a.proxyOwner.getSender(), { total, signature });
    expectTx(r.transactions, { to: a.proxy.address, op: Op.clientPayment, success: true });
  }

  function payout(
    total: bigint,
    opts: {
      secretKey?: Buffer;
      worker?: SandboxContract<WorkerContract>;
      value?: bigint;
      queryId?: bigint;
    } = {},
  ) {
    const worker = opts.worker ?? a.worker;
    const signature = signPayout({
      worker: worker.address,
      total,
      queryId: opts.queryId ?? 0n,
      secretKey: opts.secretKey ?? a.proxyKeys.secretKey,
    });
    return worker.sendPayout(a.workerOwner.getSender(), {
      total,
      signature,
      queryId: opts.queryId ?? 0n,
      value: opts.value,
    });
  }

  it('is deployed with a stake and computes its clients’ and workers’ addresses', async () => {
    expect(await a.proxy.getState()).toEqual({ balance: 0n, stake, state: ProxyStatus.open, closeAt: 0 });
    expect(await tonBalance(a.chain, a.proxy.address)).toBeGreaterThanOrEqual(stake + MIN_STORAGE_RESERVE);
    const config = await a.proxy.getConfig();
    expect(config.owner.equals(a.proxyOwner.address)).toBe(true);
    expect(config.publicKey.equals(a.proxyKeys.publicKey)).toBe(true);
    expect(
      (await a.proxy.getClientAddress(a.clientOwner.address, a.clientKeys.publicKey)).equals(
        a.client.address,
      ),
    ).toBe(true);
    expect((await a.proxy.getWorkerAddress(a.workerOwner.address)).equals(a.worker.address)).toBe(true);
    const worker = await a.worker.getState();
    expect(worker.paidTotal).toBe(0n);
    expect(worker.owner.equals(a.workerOwner.address)).toBe(true);
    expect(worker.proxy.equals(a.proxy.address)).toBe(true);
    expect(worker.proxyPublicKey.equals(a.proxyKeys.publicKey)).toBe(true);
  });

  describe('worker payouts', () => {
    it('pays the worker’s owner the difference of a total signed by the proxy', async () => {
      await fundProxy(toNano('3'));
      const before = await tonBalance(a.chain, a.proxy.address);
      const r = await payout(toNano('1'), { queryId: 1n });
      const request = expectTx(r.transactions, {
        from: a.worker.address,
        to: a.proxy.address,
        op: Op.payoutRequest,
        success: true,
      });
      const paid = expectTx(r.transactions, {
        from: a.proxy.address,
        to: a.workerOwner.address,
        op: Op.workerPaid,
      });
      expect(outValue(request)).toBeGreaterThanOrEqual(toNano('1'));
      expect(paid.inMessage?.info.type === 'internal' && paid.inMessage.info.value.coins).toBeGreaterThan(
        toNano('1'),
      );
      expectConserved(request, before, await tonBalance(a.chain, a.proxy.address));
      expect((await a.worker.getState()).paidTotal).toBe(toNano('1'));
      expect(await a.proxy.getState()).toMatchObject({ balance: toNano('2'), stake });

      await payout(toNano('1.5'), { queryId: 2n });
      expect((await a.worker.getState()).paidTotal).toBe(toNano('1.5'));
      expect((await a.proxy.getState()).balance).toBe(toNano('1.5'));
    });

    it('makes replays and older totals do nothing', async () => {
      await fundProxy(toNano('3'));
      await payout(toNano('1'));
      for (const total of [toNano('1'), toNano('0.5')]) {
        const r = await payout(total);
        expectTx(r.transactions, { to: a.worker.address, success: false, exitCode: ExitCode.oldTotal });
      }
      expect((await a.proxy.getState()).balance).toBe(toNano('2'));
    });

    it('refuses another key, another worker’s signature and too little gas', async () => {
      await fundProxy(toNano('3'));
      const other = WorkerContract.createFromConfig(
        { owner: a.stranger.address, proxy: a.proxy.address, proxyPublicKey: a.proxyKeys.publicKey },
        a.codes.worker,
      );
      const misdirected = signPayout({
        worker: other.address,
        total: toNano('1'),
        secretKey: a.proxyKeys.secretKey,
      });
      let r = await a.worker.sendPayout(a.workerOwner.getSender(), {
        total: toNano('1'),
        signature: misdirected,
      });
      expectTx(r.transactions, { to: a.worker.address, success: false, exitCode: ExitCode.badSignature });
      r = await payout(toNano('1'), { secretKey: a.clientKeys.secretKey });
      expectTx(r.transactions, { to: a.worker.address, success: false, exitCode: ExitCode.badSignature });
      r = await payout(toNano('1'), { value: 1_000_000n });
      expectTx(r.transactions, { to: a.worker.address, success: false, exitCode: ExitCode.notEnoughGas });
      expect((await a.worker.getState()).paidTotal).toBe(0n);
    });

    it('pays from the stake when the balance runs short, and bounces beyond both', async () => {
      await fundProxy(toNano('1'));
      await payout(toNano('2'));
      expect(await a.proxy.getState()).toMatchObject({ balance: 0n, stake: stake - toNano('1') });

      const r = await payout(toNano('2') + stake);
      expectTx(r.transactions, {
        from: a.worker.address,
        to: a.proxy.address,
        success: false,
        exitCode: ExitCode.insufficientBalance,
      });
      const bounce = expectTx(r.transactions, {
        from: a.proxy.address,
        to: a.worker.address,
        inMessageBounced: true,
        success: true,
      });
      expect(gasUsed(bounce)).toBeLessThan(GasBound.bounce);
      expectTx(r.transactions, { from: a.worker.address, to: a.workerOwner.address, op: Op.excesses });
      expect((await a.worker.getState()).paidTotal).toBe(toNano('2'));
      expect(await a.proxy.getState()).toMatchObject({ balance: 0n, stake: stake - toNano('1') });
      expect(await tonBalance(a.chain, a.proxy.address)).toBeGreaterThanOrEqual(
        stake - toNano('1') + MIN_STORAGE_RESERVE,
      );

      // the same total can be claimed once the proxy has the funds
      await fundProxy(toNano('16'));
      const again = await payout(toNano('2') + stake);
      expectTx(again.transactions, { from: a.proxy.address, to: a.workerOwner.address, op: Op.workerPaid });
    });

    it('trusts a Worker or Client contract only at the address its init data gives', async () => {
      const fakeRequest = beginCell()
        .storeUint(Op.payoutRequest, 32)
        .storeUint(0, 64)
        .storeCoins(toNano('1'))
        .storeAddress(a.stranger.address)
        .endCell();
      let r = await a.stranger.send({ to: a.proxy.address, value: toNano('0.1'), body: fakeRequest });
      expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.untrustedSender });

      const fakePayment = beginCell()
        .storeUint(Op.clientPayment, 32)
        .storeUint(0, 64)
        .storeCoins(toNano('1'))
        .storeCoins(0)
        .storeAddress(a.clientOwner.address)
        .storeUint(BigInt(`0x${a.clientKeys.publicKey.toString('hex')}`), 256)
        .endCell();
      r = await a.stranger.send({ to: a.proxy.address, value: toNano('1.1'), body: fakePayment });
      expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.untrustedSender });

      // a worker contract signed for by another proxy key is another address: not trusted
      const otherKey = await newKeyPair();
      const rogue = a.chain.openContract(
        WorkerContract.createFromConfig(
          { owner: a.workerOwner.address, proxy: a.proxy.address, proxyPublicKey: otherKey.publicKey },
          a.codes.worker,
        ),
      );
      await rogue.sendDeploy(a.workerOwner.getSender());
      await fundProxy(toNano('2'));
      r = await payout(toNano('1'), { worker: rogue, secretKey: otherKey.secretKey });
      expectTx(r.transactions, {
        from: rogue.address,
        to: a.proxy.address,
        success: false,
        exitCode: ExitCode.untrustedSender,
      });
      expect((await rogue.getState()).paidTotal).toBe(0n);
      expect((await a.proxy.getState()).balance).toBe(toNano('2'));
    });

    it('refuses unknown ops on the worker and proxy', async () => {
      for (const to of [a.worker.address, a.proxy.address]) {
        const r = await a.stranger.send({
          to,
          value: toNano('0.1'),
          body: beginCell().storeUint(0x99, 32).endCell(),
        });
        expectTx(r.transactions, { to, success: false, exitCode: ExitCode.unknownOp });
      }
    });
  });

  describe('commission, stake and close', () => {
    it('lets the owner withdraw commission up to the balance, never the stake', async () => {
      await fundProxy(toNano('3'));
      let r = await a.proxy.sendWithdrawCommission(a.stranger.getSender(), { amount: toNano('1') });
      expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.notOwner });
      r = await a.proxy.sendWithdrawCommission(a.proxyOwner.getSender(), { amount: toNano('3') + 1n });
      expectTx(r.transactions, {
        to: a.proxy.address,
        success: false,
        exitCode: ExitCode.insufficientBalance,
      });

      const before = await tonBalance(a.chain, a.proxy.address);
      r = await a.proxy.sendWithdrawCommission(a.proxyOwner.getSender(), { amount: toNano('2') });
      const tx = expectTx(r.transactions, { to: a.proxy.address, success: true });
      expectTx(r.transactions, { from: a.proxy.address, to: a.proxyOwner.address, op: Op.excesses });
      const after = await tonBalance(a.chain, a.proxy.address);
      expect(after).toBe(toNano('1') + stake + MIN_STORAGE_RESERVE);
      expectConserved(tx, before, after);
      expect((await a.proxy.getState()).balance).toBe(toNano('1'));
    });

    it('stays fully backed after a year of storage fees', async () => {
      await fundProxy(toNano('3'));
      a.chain.now = (a.chain.now ?? 0) + 365 * 86_400;
      const r = await a.proxy.sendWithdrawCommission(a.proxyOwner.getSender(), { amount: toNano('3') });
      const tx = expectTx(r.transactions, { to: a.proxy.address, success: true });
      const storageFee =
        tx.description.type === 'generic' ? (tx.description.storagePhase?.storageFeesCollected ?? 0n) : 0n;
      expect(storageFee).toBeGreaterThan(0n);
      expect(storageFee).toBeLessThan(MIN_STORAGE_RESERVE / 2n);
      expect(await tonBalance(a.chain, a.proxy.address)).toBe(stake + MIN_STORAGE_RESERVE);
    });

    it('adds stake from anyone while open', async () => {
      await a.proxy.sendAddStake(a.stranger.getSender(), { value: toNano('5') });
      expect((await a.proxy.getState()).stake).toBe(stake + credited(toNano('5')));
    });

    it('closes after its delay, still paying workers meanwhile, then refuses clients', async () => {
      await fundProxy(toNano('3'));
      let r = await a.proxy.sendClose(a.proxyOwner.getSender());
      expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.notClosing });
      r = await a.proxy.sendRequestClose(a.stranger.getSender());
      expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.notOwner });
      await a.proxy.sendRequestClose(a.proxyOwner.getSender());
      const closeAt = (a.chain.now ?? 0) + PROXY_CLOSE_DELAY;
      expect(await a.proxy.getState()).toMatchObject({ state: ProxyStatus.closing, closeAt });
      r = await a.proxy.sendRequestClose(a.proxyOwner.getSender());
      expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.alreadyClosing });
      r = await a.proxy.sendAddStake(a.stranger.getSender(), { value: toNano('1') });
      expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.closed });

      a.chain.now = closeAt - 1;
      r = await a.proxy.sendClose(a.proxyOwner.getSender());
      expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.closeDelay });
      r = await payout(toNano('1'));
      expectTx(r.transactions, { from: a.proxy.address, to: a.workerOwner.address, op: Op.workerPaid });

      a.chain.now = closeAt;
      r = await a.proxy.sendClose(a.stranger.getSender());
      expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.notOwner });
      r = await a.proxy.sendClose(a.proxyOwner.getSender());
      const paid = expectTx(r.transactions, {
        from: a.proxy.address,
        to: a.proxyOwner.address,
        op: Op.excesses,
      });
      expect(paid.inMessage?.info.type === 'internal' && paid.inMessage.info.value.coins).toBeGreaterThan(
        stake + toNano('2') - toNano('0.01'),
      );
      expect(await a.proxy.getState()).toEqual({
        balance: 0n,
        stake: 0n,
        state: ProxyStatus.closed,
        closeAt,
      });
      expect(await tonBalance(a.chain, a.proxy.address)).toBe(MIN_STORAGE_RESERVE);
    });
  });
});
