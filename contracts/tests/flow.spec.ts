import { type Transaction, toNano } from '@ton/core';
import { describe, expect, it } from 'vitest';
import { signCharge } from '../wrappers/Client.js';
import { MIN_STORAGE_RESERVE, Op } from '../wrappers/constants.js';
import { DEFAULT_ROOT_PARAMS, RootContract, type RootParams } from '../wrappers/Root.js';
import { signPayout } from '../wrappers/Worker.js';
import { expectConserved, expectTx, firstCredit, PROXY_STAKE, setupActors, tonBalance } from './helpers.js';

const JOBS = 1000;

interface Job {
  promptTokens: bigint;
  completionTokens: bigint;
}

function jobAt(i: number): Job {
  return { promptTokens: BigInt(200 + ((i * 37) % 800)), completionTokens: BigInt(100 + ((i * 91) % 400)) };
}

function priced(job: Job, params: RootParams, perToken: bigint): bigint {
  const weighted =
    job.promptTokens * BigInt(params.promptMultiplier) +
    job.completionTokens * BigInt(params.completionMultiplier);
  return (weighted * perToken) / 10_000n;
}

function inValue(tx: Transaction): bigint {
  return tx.inMessage?.info.type === 'internal' ? tx.inMessage.info.value.coins : 0n;
}

describe('end-to-end settlement', () => {
  it('charges 1,000 jobs by cumulative totals, pays the worker and the proxy, refunds the rest', async () => {
    const a = await setupActors();
    const params = DEFAULT_ROOT_PARAMS;
    const root = a.chain.openContract(
      RootContract.createFromConfig({ owner: a.rootOwner.address, params }, a.codes.root),
    );
    await root.sendDeploy(a.rootOwner.getSender());
    await root.sendSetProxy(a.rootOwner.getSender(), { proxy: a.proxy.address, allowed: true });
    expect(await root.getIsProxyRegistered(a.proxy.address)).toBe(true);
    await a.worker.sendDeploy(a.workerOwner.getSender());

    const ours = [a.client.address, a.proxy.address, a.worker.address];
    const balances = new Map<string, bigint>();
    for (const address of ours) balances.set(address.toString(), await tonBalance(a.chain, address));
    const checkConservation = async (txs: Transaction[]) => {
      for (const address of ours) {
        const key = address.toString();
        let before = balances.get(key) ?? 0n;
        for (const tx of txs.filter((t) => t.inMessage?.info.dest?.toString() === key)) {
          const after =
            before +
            inValue(tx) -
            tx.totalFees.coins -
            [...tx.outMessages.values()].reduce(
              (sum, m) => sum + (m.info.type === 'internal' ? m.info.value.coins + m.info.forwardFee : 0n),
              0n,
            );
          expectConserved(tx, before, after);
          before = after;
        }
        const actual = await tonBalance(a.chain, address);
        expect(actual).toBe(before);
        balances.set(key, actual);
      }
    };

    const deposit = toNano('2');
    let r = await a.client.sendTopUp(a.clientOwner.getSender(), { value: deposit, reference: 'user-1' });
    await checkConservation(r.transactions);

    let charged = 0n;
    let workerEarned = 0n;
    let latestSignature: Buffer | undefined;
    let workerPaidTotal = 0n;
    let workerReceived = 0n;
    for (let i = 1; i <= JOBS; i++) {
      const job = jobAt(i);
      charged += priced(job, params, params.pricePerToken);
      workerEarned += priced(job, params, params.workerFeePerToken);
      // the client SDK signs the new cumulative total once it has checked the job's receipt
      latestSignature = signCharge({
        client: a.client.address,
        total: charged,
        queryId: BigInt(i),
        secretKey: a.clientKeys.secretKey,
      });

      if (i % 250 === 0) {
        r = await a.client.sendCharge(a.proxyOwner.getSender(), {
          total: charged,
          signature: latestSignature,
          queryId: BigInt(i),
        });
        expectTx(r.transactions, {
          from: a.client.address,
          to: a.proxy.address,
          op: Op.clientPayment,
          success: true,
        });
        await checkConservation(r.transactions);
      }
      if (i % 500 === 0) {
        const signature = signPayout({
          worker: a.worker.address,
          total: workerEarned,
          queryId: BigInt(i),
          secretKey: a.proxyKeys.secretKey,
        });
        r = await a.worker.sendPayout(a.workerOwner.getSender(), {
          total: workerEarned,
          signature,
          queryId: BigInt(i),
        });
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
        // the worker's owner gets the new earnings plus the change of its own message, to the nanoton
        const delta = workerEarned - workerPaidTotal;
        const d = request.description;
        if (d.type !== 'generic' || d.computePhase.type !== 'vm' || !d.actionPhase)
          throw new Error('unexpected tx');
        expect(inValue(paid)).toBe(
          delta + inValue(request) - d.computePhase.gasFees - (d.actionPhase.totalFwdFees ?? 0n),
        );
        workerReceived += inValue(paid);
        workerPaidTotal = workerEarned;
        await checkConservation(r.transactions);
      }
    }
    expect(latestSignature).toBeDefined();
    expect(workerReceived).toBeGreaterThan(workerEarned);

    const commission = charged - workerEarned;
    expect(await a.client.getState()).toEqual({
      balance: firstCredit(deposit) - charged,
      stake: 0n,
      chargedTotal: charged,
      closeAt: 0,
      closeSeqno: 0,
    });
    expect((await a.worker.getState()).paidTotal).toBe(workerEarned);
    expect(await a.proxy.getState()).toMatchObject({ balance: commission, stake: firstCredit(PROXY_STAKE) });

    r = await a.proxy.sendWithdrawCommission(a.proxyOwner.getSender(), { amount: commission });
    expectTx(r.transactions, { from: a.proxy.address, to: a.proxyOwner.address, op: Op.excesses });
    await checkConservation(r.transactions);

    const rest = firstCredit(deposit) - charged;
    r = await a.client.sendWithdraw(a.clientOwner.getSender(), { amount: rest });
    const refund = expectTx(r.transactions, {
      from: a.client.address,
      to: a.clientOwner.address,
      op: Op.refund,
    });
    expect(inValue(refund)).toBeGreaterThan(rest);
    await checkConservation(r.transactions);

    expect((await a.client.getState()).balance).toBe(0n);
    expect(await tonBalance(a.chain, a.client.address)).toBe(MIN_STORAGE_RESERVE);
    expect((await a.proxy.getState()).balance).toBe(0n);
    expect(await tonBalance(a.chain, a.proxy.address)).toBe(firstCredit(PROXY_STAKE) + MIN_STORAGE_RESERVE);
    // 1,000 jobs, 4 charge messages and 2 payouts: the proxy's 5% commission at 20 vs 19 nanoTON per token
    expect(commission * 20n).toBe(charged);
  });
});
