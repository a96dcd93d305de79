import { beginCell, toNano } from '@ton/core';
import { beforeEach, describe, expect, it } from 'vitest';
import { ClientContract, parseTopUpBody, signCharge, signCooperativeClose } from '../wrappers/Client.js';
import { ExitCode, GasBound, MIN_STORAGE_RESERVE, Op } from '../wrappers/constants.js';
import { signPayout } from '../wrappers/Worker.js';
import {
  type Actors,
  CLIENT_CLOSE_DELAY,
  credited,
  expectConserved,
  expectNoTx,
  expectTx,
  firstCredit,
  gasUsed,
  newKeyPair,
  PROXY_CLOSE_DELAY,
  setupActors,
  tonBalance,
} from './helpers.js';

describe('Client contract', () => {
  let a: Actors;
  const deposit = toNano('10');

  beforeEach(async () => {
    a = await setupActors();
  });

  async function topUp(value = deposit) {
    const r = await a.client.sendTopUp(a.clientOwner.getSender(), { value });
    expectTx(r.transactions, { to: a.client.address, success: true });
    return r;
  }

  function charge(total: bigint, opts: { queryId?: bigint; secretKey?: Buffer } = {}) {
    const signature = signCharge({
      client: a.client.address,
      total,
      queryId: opts.queryId ?? 0n,
      secretKey: opts.secretKey ?? a.clientKeys.secretKey,
    });
    return a.client.sendCharge(a.proxyOwner.getSender(), { total, signature, queryId: opts.queryId ?? 0n });
  }

  async function expectFullyBacked() {
    const s = await a.client.getState();
    expect(await tonBalance(a.chain, a.client.address)).toBeGreaterThanOrEqual(
      s.balance + s.stake + MIN_STORAGE_RESERVE,
    );
  }

  describe('deposits', () => {
    it('is deployed by a top-up and credits the value less the gas bound', async () => {
      const r = await a.client.sendTopUp(a.clientOwner.getSender(), {
        value: deposit,
        reference: 42n,
        queryId: 5n,
      });
      expectTx(r.transactions, { to: a.client.address, deploy: true, success: true });
      expect(await a.client.getState()).toEqual({
        balance: firstCredit(deposit),
        stake: 0n,
        chargedTotal: 0n,
        closeAt: 0,
        closeSeqno: 0,
      });
      const config = await a.client.getConfig();
      expect(config.owner.equals(a.clientOwner.address)).toBe(true);
      expect(config.proxy.equals(a.proxy.address)).toBe(true);
      expect(config.clientPublicKey.equals(a.clientKeys.publicKey)).toBe(true);
      expect(config.proxyPublicKey.equals(a.proxyKeys.publicKey)).toBe(true);
      expect(config.closeDelay).toBe(CLIENT_CLOSE_DELAY);
      await expectFullyBacked();
    });

    it('carries a numeric or text reference a watcher can read', async () => {
      for (const reference of [123456789n, 'tg:user/42']) {
        const r = await a.client.sendTopUp(a.stranger.getSender(), {
          value: deposit,
          reference,
          queryId: 9n,
        });
        const tx = expectTx(r.transactions, { to: a.client.address, success: true });
        const body = tx.inMessage?.body;
        expect(body && parseTopUpBody(body)).toEqual({ queryId: 9n, reference });
      }
      expect((await a.client.getState()).balance).toBe(firstCredit(deposit) + credited(deposit));
      await expect(
        a.client.sendTopUp(a.stranger.getSender(), { value: deposit, reference: 'x'.repeat(121) }),
      ).rejects.toThrow(RangeError);
    });

    it('takes plain transfers and text comments as top-ups', async () => {
      await a.clientOwner.send({
        to: a.client.address,
        value: deposit,
        init: a.client.init,
        body: beginCell().endCell(),
      });
      const comment = beginCell().storeUint(0, 32).storeStringTail('for user 7').endCell();
      await a.stranger.send({ to: a.client.address, value: deposit, body: comment });
      expect((await a.client.getState()).balance).toBe(firstCredit(deposit) + credited(deposit));
    });

    it('refuses a top-up that cannot pay its gas, and unknown ops', async () => {
      await topUp();
      let r = await a.client.sendTopUp(a.stranger.getSender(), { value: deposit - credited(deposit) });
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.notEnoughGas });
      r = await a.stranger.send({
        to: a.client.address,
        value: toNano('1'),
        body: beginCell().storeUint(0x77, 32).endCell(),
      });
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.unknownOp });
      expect((await a.client.getState()).balance).toBe(firstCredit(deposit));
    });

    it('adds stake', async () => {
      await topUp();
      await a.client.sendAddStake(a.clientOwner.getSender(), { value: toNano('15') });
      const s = await a.client.getState();
      expect(s.stake).toBe(credited(toNano('15')));
      expect(s.balance).toBe(firstCredit(deposit));
    });
  });

  describe('withdraw', () => {
    it('pays the owner and keeps exactly the accounted funds plus the storage reserve', async () => {
      await topUp();
      await a.client.sendAddStake(a.clientOwner.getSender(), { value: toNano('2') });
      const before = await tonBalance(a.chain, a.client.address);
      const r = await a.client.sendWithdraw(a.clientOwner.getSender(), { amount: toNano('4'), queryId: 3n });
      const tx = expectTx(r.transactions, {
        from: a.clientOwner.address,
        to: a.client.address,
        success: true,
      });
      expectTx(r.transactions, { from: a.client.address, to: a.clientOwner.address, op: Op.refund });
      const s = await a.client.getState();
      expect(s.balance).toBe(firstCredit(deposit) - toNano('4'));
      const after = await tonBalance(a.chain, a.client.address);
      expect(after).toBe(s.balance + s.stake + MIN_STORAGE_RESERVE);
      expectConserved(tx, before, after);
    });

    it('refuses a stranger, an amount above the balance, and the stake', async () => {
      await topUp();
      await a.client.sendAddStake(a.clientOwner.getSender(), { value: toNano('5') });
      let r = await a.client.sendWithdraw(a.stranger.getSender(), { amount: 1n });
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.notOwner });
      r = await a.client.sendWithdraw(a.clientOwner.getSender(), { amount: firstCredit(deposit) + 1n });
      expectTx(r.transactions, {
        to: a.client.address,
        success: false,
        exitCode: ExitCode.insufficientBalance,
      });
      r = await a.client.sendWithdraw(a.clientOwner.getSender(), { amount: 1n, value: 500_000n });
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.notEnoughGas });
      expect((await a.client.getState()).balance).toBe(firstCredit(deposit));
    });
  });

  describe('charge', () => {
    it('moves the difference to the proxy on a total signed by the client', async () => {
      await topUp();
      const proxyBefore = await a.proxy.getState();
      const r = await charge(toNano('1'), { queryId: 1n });
      expectTx(r.transactions, {
        from: a.client.address,
        to: a.proxy.address,
        op: Op.clientPayment,
        success: true,
      });
      expect(await a.client.getState()).toMatchObject({
        balance: firstCredit(deposit) - toNano('1'),
        chargedTotal: toNano('1'),
      });
      expect((await a.proxy.getState()).balance).toBe(proxyBefore.balance + toNano('1'));

      await charge(toNano('2.5'), { queryId: 2n });
      expect(await a.client.getState()).toMatchObject({
        balance: firstCredit(deposit) - toNano('2.5'),
        chargedTotal: toNano('2.5'),
      });
      expect((await a.proxy.getState()).balance).toBe(proxyBefore.balance + toNano('2.5'));
      await expectFullyBacked();
    });

    it('makes a replayed or older total do nothing', async () => {
      await topUp();
      await charge(toNano('2'), { queryId: 1n });
      for (const [total, queryId] of [
        [toNano('2'), 1n],
        [toNano('1'), 0n],
      ] as const) {
        const r = await charge(total, { queryId });
        expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.oldTotal });
        expectNoTx(r.transactions, { to: a.proxy.address });
      }
      expect(await a.client.getState()).toMatchObject({
        chargedTotal: toNano('2'),
        balance: firstCredit(deposit) - toNano('2'),
      });
    });

    it('refuses a bad signature, another contract’s signature, and another op’s signature', async () => {
      await topUp();
      const stranger = await newKeyPair();
      const other = ClientContract.createFromConfig(
        { ...a.clientConfig, closeDelay: 60 },
        a.codes.client,
      ).address;
      const total = toNano('1');
      const signatures = [
        signCharge({ client: a.client.address, total, secretKey: stranger.secretKey }),
        signCharge({ client: other, total, secretKey: a.clientKeys.secretKey }),
        signPayout({ worker: a.client.address, total, secretKey: a.clientKeys.secretKey }),
        signCharge({ client: a.client.address, total: total + 1n, secretKey: a.clientKeys.secretKey }),
      ];
      for (const signature of signatures) {
        const r = await a.client.sendCharge(a.proxyOwner.getSender(), { total, signature });
        expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.badSignature });
      }
      expect((await a.client.getState()).chargedTotal).toBe(0n);
    });

    it('uses the stake after the balance and refuses more than both', async () => {
      await topUp(toNano('1'));
      await a.client.sendAddStake(a.clientOwner.getSender(), { value: toNano('1') });
      const available = firstCredit(toNano('1')) + credited(toNano('1'));
      let r = await charge(available + 1n);
      expectTx(r.transactions, {
        to: a.client.address,
        success: false,
        exitCode: ExitCode.insufficientBalance,
      });
      r = await charge(available);
      expectTx(r.transactions, { to: a.proxy.address, success: true });
      expect(await a.client.getState()).toMatchObject({ balance: 0n, stake: 0n, chargedTotal: available });
      await expectFullyBacked();
    });

    it('refuses a charge that cannot pay the gas of both contracts', async () => {
      await topUp();
      const total = toNano('1');
      const signature = signCharge({ client: a.client.address, total, secretKey: a.clientKeys.secretKey });
      const r = await a.client.sendCharge(a.proxyOwner.getSender(), { total, signature, value: 1_000_000n });
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.notEnoughGas });
    });

    it('restores balance and stake exactly when the proxy refuses the payment (bounce)', async () => {
      await topUp();
      await a.client.sendAddStake(a.clientOwner.getSender(), { value: toNano('2') });
      await charge(toNano('1'));
      await a.proxy.sendRequestClose(a.proxyOwner.getSender());
      a.chain.now = (a.chain.now ?? 0) + PROXY_CLOSE_DELAY;
      await a.proxy.sendClose(a.proxyOwner.getSender());

      // more than the balance: part of it comes from the stake
      const r = await charge(firstCredit(deposit) + toNano('1'), { queryId: 2n });
      expectTx(r.transactions, {
        from: a.client.address,
        to: a.proxy.address,
        success: false,
        exitCode: ExitCode.closed,
      });
      const bounce = expectTx(r.transactions, {
        from: a.proxy.address,
        to: a.client.address,
        inMessageBounced: true,
        success: true,
      });
      expect(gasUsed(bounce)).toBeLessThan(GasBound.bounce);
      expect(await a.client.getState()).toMatchObject({
        balance: firstCredit(deposit) - toNano('1'),
        stake: credited(toNano('2')),
        chargedTotal: toNano('1'),
      });
      await expectFullyBacked();
    });

    it('is not trusted by the proxy when its init data differs (bounce restores it)', async () => {
      const impostor = a.chain.openContract(
        ClientContract.createFromConfig({ ...a.clientConfig, closeDelay: 1 }, a.codes.client),
      );
      await impostor.sendTopUp(a.clientOwner.getSender(), { value: deposit });
      const total = toNano('1');
      const signature = signCharge({ client: impostor.address, total, secretKey: a.clientKeys.secretKey });
      const r = await impostor.sendCharge(a.proxyOwner.getSender(), { total, signature });
      expectTx(r.transactions, {
        from: impostor.address,
        to: a.proxy.address,
        success: false,
        exitCode: ExitCode.untrustedSender,
      });
      expect(await impostor.getState()).toMatchObject({ balance: firstCredit(deposit), chargedTotal: 0n });
      expect((await a.proxy.getState()).balance).toBe(0n);
    });
  });

  describe('refunds and closing', () => {
    it('forces a refund only after the close delay, and still takes charges meanwhile', async () => {
      await topUp();
      await a.client.sendAddStake(a.clientOwner.getSender(), { value: toNano('3') });
      let r = await a.client.sendForceRefund(a.clientOwner.getSender());
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.notClosing });
      r = await a.client.sendRequestRefund(a.stranger.getSender());
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.notOwner });

      r = await a.client.sendRequestRefund(a.clientOwner.getSender());
      expectTx(r.transactions, { to: a.client.address, success: true });
      const closeAt = (a.chain.now ?? 0) + CLIENT_CLOSE_DELAY;
      expect((await a.client.getState()).closeAt).toBe(closeAt);
      r = await a.client.sendRequestRefund(a.clientOwner.getSender());
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.alreadyClosing });

      a.chain.now = closeAt - 1;
      r = await a.client.sendForceRefund(a.clientOwner.getSender());
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.closeDelay });
      await charge(toNano('1'));
      r = await a.client.sendForceRefund(a.stranger.getSender());
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.notOwner });

      a.chain.now = closeAt;
      const before = await tonBalance(a.chain, a.client.address);
      r = await a.client.sendForceRefund(a.clientOwner.getSender(), { queryId: 4n });
      const tx = expectTx(r.transactions, { to: a.client.address, success: true });
      expectTx(r.transactions, { from: a.client.address, to: a.clientOwner.address, op: Op.refund });
      expect(await a.client.getState()).toEqual({
        balance: 0n,
        stake: 0n,
        chargedTotal: toNano('1'),
        closeAt: 0,
        closeSeqno: 0,
      });
      const after = await tonBalance(a.chain, a.client.address);
      expect(after).toBe(MIN_STORAGE_RESERVE);
      expectConserved(tx, before, after);

      // reusable afterwards, and old signatures stay spent
      await topUp();
      r = await charge(toNano('1'));
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.oldTotal });
    });

    it('closes cooperatively with the proxy’s signature on the final total, once', async () => {
      await topUp();
      await charge(toNano('2'));
      const sign = (total: bigint, closeSeqno: number, secretKey = a.proxyKeys.secretKey) =>
        signCooperativeClose({ client: a.client.address, total, closeSeqno, secretKey });

      let r = await a.client.sendCooperativeClose(a.clientOwner.getSender(), {
        total: toNano('2'),
        signature: sign(toNano('2'), 0, a.clientKeys.secretKey),
        queryId: 0n,
      });
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.badSignature });
      r = await a.client.sendCooperativeClose(a.clientOwner.getSender(), {
        total: toNano('1'),
        signature: sign(toNano('1'), 0),
        queryId: 0n,
      });
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.totalMismatch });
      r = await a.client.sendCooperativeClose(a.stranger.getSender(), {
        total: toNano('2'),
        signature: sign(toNano('2'), 0),
        queryId: 0n,
      });
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.notOwner });

      const signature = sign(toNano('2'), 0);
      r = await a.client.sendCooperativeClose(a.clientOwner.getSender(), {
        total: toNano('2'),
        signature,
        queryId: 0n,
      });
      expectTx(r.transactions, { from: a.client.address, to: a.clientOwner.address, op: Op.refund });
      expect(await a.client.getState()).toEqual({
        balance: 0n,
        stake: 0n,
        chargedTotal: toNano('2'),
        closeAt: 0,
        closeSeqno: 1,
      });
      expect(await tonBalance(a.chain, a.client.address)).toBe(MIN_STORAGE_RESERVE);

      await topUp();
      r = await a.client.sendCooperativeClose(a.clientOwner.getSender(), {
        total: toNano('2'),
        signature,
        queryId: 0n,
      });
      expectTx(r.transactions, { to: a.client.address, success: false, exitCode: ExitCode.badSeqno });
      expect((await a.client.getState()).balance).toBe(credited(deposit));
    });

    it('stays fully backed after a year of storage fees', async () => {
      await topUp();
      await a.client.sendAddStake(a.clientOwner.getSender(), { value: toNano('1') });
      a.chain.now = (a.chain.now ?? 0) + 365 * 86_400;
      const r = await a.client.sendWithdraw(a.clientOwner.getSender(), { amount: firstCredit(deposit) });
      const tx = expectTx(r.transactions, { to: a.client.address, success: true });
      const storageFee =
        tx.description.type === 'generic' ? (tx.description.storagePhase?.storageFeesCollected ?? 0n) : 0n;
      expect(storageFee).toBeGreaterThan(0n);
      expect(storageFee).toBeLessThan(MIN_STORAGE_RESERVE / 5n);
      expect(await tonBalance(a.chain, a.client.address)).toBe(credited(toNano('1')) + MIN_STORAGE_RESERVE);
    });
  });
});
