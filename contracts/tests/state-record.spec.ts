import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, GasBound, Op, Value } from '../wrappers/constants.js';
import {
  type Actors,
  expectTx,
  gasUsed,
  PROXY_CLOSE_DELAY,
  START_TIME,
  setupActors,
  tonBalance,
} from './helpers.js';

describe('Proxy contract state record', () => {
  let a: Actors;

  beforeEach(async () => {
    a = await setupActors();
    a.chain.now = START_TIME;
  });

  const record = (seqno: bigint, stateHash: Buffer, from = a.proxyOwner) =>
    a.proxy.sendRecordState(from.getSender(), { seqno, stateHash });

  it('starts empty and records what the owner sends, with the chain’s time, within its gas bound', async () => {
    expect(await a.proxy.getStateRecord()).toEqual({ seqno: 0n, stateHash: Buffer.alloc(32), at: 0 });
    const hash = randomBytes(32);
    const r = await record(1n, hash);
    const tx = expectTx(r.transactions, { to: a.proxy.address, op: Op.recordState, success: true });
    expect(tx.outMessagesCount).toBe(0);
    expect(gasUsed(tx)).toBeLessThan(GasBound.ownerOp);
    console.info(`RecordState gas: ${gasUsed(tx)}`);
    expect(await a.proxy.getStateRecord()).toEqual({ seqno: 1n, stateHash: hash, at: START_TIME });

    a.chain.now = START_TIME + 60;
    const next = randomBytes(32);
    await record(5n, next);
    expect(await a.proxy.getStateRecord()).toEqual({ seqno: 5n, stateHash: next, at: START_TIME + 60 });
  });

  it('refuses a stranger and leaves the record as it was', async () => {
    const hash = randomBytes(32);
    await record(1n, hash);
    const r = await record(2n, randomBytes(32), a.stranger);
    expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.notOwner });
    expect(await a.proxy.getStateRecord()).toMatchObject({ seqno: 1n, stateHash: hash });
  });

  it('refuses a seqno that does not exceed the recorded one', async () => {
    const hash = randomBytes(32);
    await record(3n, hash);
    for (const seqno of [3n, 2n]) {
      const r = await record(seqno, randomBytes(32));
      expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.badSeqno });
    }
    expect(await a.proxy.getStateRecord()).toMatchObject({ seqno: 3n, stateHash: hash });
  });

  it('refuses a record once the contract is closed', async () => {
    await a.proxy.sendRequestClose(a.proxyOwner.getSender());
    a.chain.now = START_TIME + PROXY_CLOSE_DELAY;
    await a.proxy.sendClose(a.proxyOwner.getSender());
    const r = await record(1n, randomBytes(32));
    expectTx(r.transactions, { to: a.proxy.address, success: false, exitCode: ExitCode.closed });
  });

  it('keeps the accounted funds, and hands the unspent value to the owner with the next withdrawal', async () => {
    const before = await a.proxy.getState();
    const balanceBefore = await tonBalance(a.chain, a.proxy.address);
    await record(1n, randomBytes(32));
    expect(await a.proxy.getState()).toEqual(before);
    const kept = (await tonBalance(a.chain, a.proxy.address)) - balanceBefore;
    expect(kept).toBeGreaterThan(Value.ownerOp / 2n);

    const r = await a.proxy.sendWithdrawCommission(a.proxyOwner.getSender(), { amount: 0n });
    const paid = expectTx(r.transactions, {
      from: a.proxy.address,
      to: a.proxyOwner.address,
      op: Op.excesses,
    });
    expect(paid.inMessage?.info.type === 'internal' && paid.inMessage.info.value.coins).toBeGreaterThan(kept);
  });
});
