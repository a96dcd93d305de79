import {
  generateSigningKeyPair,
  ManualClock,
  randomBytes,
  SignedOp,
  toHex,
  verifyAmountSignature,
} from '@cocoon/shared';
import { Address } from '@ton/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/ledger.js';
import { ChainAllowance } from '../../src/settlement/allowance.js';
import { SettlementOutbox } from '../../src/settlement/outbox.js';
import type { ClientAccount, SettlementChain, SignedTotal } from '../../src/settlement/port.js';
import { SettlementSettings } from '../../src/settlement/settings.js';
import { openTestStore } from '../support/harness.js';
import { meterJob } from './sandbox.js';

let testStore: Awaited<ReturnType<typeof openTestStore>>;
beforeAll(async () => {
  testStore = await openTestStore();
});
afterAll(async () => {
  await testStore.remove();
});

const rawOf = (seed: number) => `0:${seed.toString(16).padStart(2, '0').repeat(32)}`;

/** Contracts as plain numbers: monotonic totals, a proxy balance, the Root's rates. */
class FakeChain implements SettlementChain {
  readonly paid = new Map<string, bigint>();
  readonly payouts: { payoutAddress: string; signed: SignedTotal }[] = [];
  accounts = new Map<string, ClientAccount>();
  balance = 0n;
  rates_ = { pricePerToken: 20n, workerFeePerToken: 19n };

  clientContractAddress(owner: string, clientKey: string): string {
    return `0:${clientKey.slice(0, 32)}${Address.parse(owner).hash.toString('hex').slice(0, 32)}`;
  }
  workerContractAddress(payoutAddress: string): string {
    return `0:${Address.parse(payoutAddress).hash.toString('hex').split('').reverse().join('')}`;
  }
  async clientAccount(contract: string) {
    return this.accounts.get(contract);
  }
  async workerPaidTotal(payoutAddress: string) {
    return this.paid.get(payoutAddress) ?? 0n;
  }
  async proxyBalance() {
    return this.balance;
  }
  async rates() {
    return this.rates_;
  }
  async sendCharge(): Promise<void> {
    throw new Error('no charges in these tests');
  }
  async sendPayout(payoutAddress: string, signed: SignedTotal): Promise<void> {
    this.payouts.push({ payoutAddress, signed });
    const before = this.paid.get(payoutAddress) ?? 0n;
    if (signed.total <= before) return;
    this.balance -= signed.total - before;
    this.paid.set(payoutAddress, signed.total);
  }
  async stateRecord() {
    return { seqno: 0n, stateHash: '0'.repeat(64), at: 0 };
  }
  async sendStateRecord(): Promise<void> {
    throw new Error('no state records in these tests');
  }
}

const settings = (overrides: Partial<SettlementSettings> = {}) =>
  SettlementSettings.parse({
    payoutThreshold: 1_000_000n,
    payoutIntervalMs: 60_000,
    bounceWindowMs: 1_000,
    ...overrides,
  });

/** An outbox over a fresh FakeChain and a manual clock, its payouts signed by `proxyKey`. */
function fakeOutbox(overrides: Partial<SettlementSettings> = {}, proxyKey = generateSigningKeyPair()) {
  const chain = new FakeChain();
  const clock = new ManualClock(1_800_000_000_000);
  const outbox = new SettlementOutbox({
    db: testStore.store.db,
    chain,
    proxySecretKey: proxyKey.secretKey,
    settings: settings(overrides),
    clock,
  });
  return { chain, clock, outbox };
}

describe('SettlementOutbox payouts', () => {
  it('accrues the worker fee at the Root rates of the time, waits for the proxy balance, signs for the contract', async () => {
    const proxyKey = generateSigningKeyPair();
    const { chain, clock, outbox } = fakeOutbox({}, proxyKey);
    const ledger = new Ledger(testStore.store.db);
    const payoutAddress = Address.parse(rawOf(7)).toString();
    const worker = { key: generateSigningKeyPair(), payoutAddress };
    const client = toHex(randomBytes(32));

    // 1,000,000 metered at 19/20, then 1,000,000 more after the fee drops to 10/20
    await meterJob(ledger, client, worker, 49_000);
    await outbox.plan();
    chain.rates_ = { pricePerToken: 20n, workerFeePerToken: 10n };
    await meterJob(ledger, client, worker, 49_000);
    expect(await outbox.plan()).toBe(1);
    const earned = 950_000n + 500_000n;
    const [row] = await testStore.store.db
      .selectFrom('proxy_outbox')
      .select(['cumulative', 'payload'])
      .where('kind', '=', 'payout')
      .execute();
    expect(row?.cumulative).toBe(earned);

    // the Proxy contract's balance does not cover it yet: nothing is sent
    chain.balance = earned - 1n;
    expect(await outbox.send()).toEqual({ sent: 0, confirmed: 0 });
    chain.balance = earned;
    expect(await outbox.send()).toEqual({ sent: 1, confirmed: 0 });
    // confirmed once the chain still shows it after the bounce window
    clock.advance(1_000);
    expect(await outbox.send()).toEqual({ sent: 0, confirmed: 1 });
    const sent = chain.payouts[0];
    expect(sent?.signed.total).toBe(earned);
    const contract = chain.workerContractAddress(payoutAddress);
    expect(
      verifyAmountSignature(
        {
          op: SignedOp.payout,
          queryId: sent?.signed.queryId ?? 0n,
          total: earned,
          target: Address.parse(contract),
        },
        sent?.signed.signature ?? new Uint8Array(),
        proxyKey.publicKey,
      ),
    ).toBe(true);
    expect(JSON.parse(row?.payload ?? '{}')).toMatchObject({ contract });

    // below the threshold a new earning waits for the interval
    await meterJob(ledger, client, worker, 1_000);
    expect(await outbox.plan()).toBe(0);
    clock.advance(60_000);
    expect(await outbox.plan()).toBe(1);
    expect((await outbox.summary()).earned).toBe(earned + 20_000n);
  });

  it('skips a payout address that is not a TON address and still sends the others', async () => {
    const { chain, outbox } = fakeOutbox({ payoutThreshold: 1n });
    chain.balance = 10n ** 12n;
    const ledger = new Ledger(testStore.store.db);
    const client = toHex(randomBytes(32));
    const good = Address.parse(rawOf(9)).toString();
    await meterJob(ledger, client, { key: generateSigningKeyPair(), payoutAddress: good }, 10);
    await meterJob(ledger, client, { key: generateSigningKeyPair(), payoutAddress: 'not-an-address' }, 10);
    await outbox.tick();
    expect(chain.payouts.map((p) => p.payoutAddress)).toContain(good);
    expect(chain.payouts.map((p) => p.payoutAddress)).not.toContain('not-an-address');
  });

  it('sends a payout again when its bounce takes the total back, waiting twice as long each time', async () => {
    const { chain, clock, outbox } = fakeOutbox({
      payoutThreshold: 1n,
      resendAfterMs: 60_000,
      bounceWindowMs: 120_000,
    });
    chain.balance = 10n ** 12n;
    const target = Address.parse(rawOf(13));
    const mine = (payoutAddress: string) => Address.parse(payoutAddress).equals(target);
    await meterJob(
      new Ledger(testStore.store.db),
      toHex(randomBytes(32)),
      {
        key: generateSigningKeyPair(),
        payoutAddress: target.toRawString(),
      },
      1_000,
    );
    const attempts = () => chain.payouts.filter((payout) => mine(payout.payoutAddress)).length;
    const row = () =>
      testStore.store.db
        .selectFrom('proxy_outbox')
        .select(['status', 'attempts'])
        .where('kind', '=', 'payout')
        .where('target', '=', target.toRawString())
        .executeTakeFirstOrThrow();
    /** The Proxy contract refused the PayoutRequest: the bounce makes the Worker contract take it back. */
    const bounce = () => {
      for (const [payoutAddress, paid] of chain.paid) {
        if (!mine(payoutAddress)) continue;
        chain.paid.delete(payoutAddress);
        chain.balance += paid;
      }
    };

    /** The clock moves on by `ms`, then the outbox sends and confirms what it may. */
    const sendAfter = async (ms: number) => {
      clock.advance(ms);
      await outbox.send();
    };

    await outbox.tick();
    expect(attempts()).toBe(1);
    // The chain shows the total, its bounce is still on the way: not confirmed.
    await sendAfter(30_000);
    expect(await row()).toEqual({ status: 'sent', attempts: 1 });
    bounce();
    await sendAfter(29_999);
    expect(attempts()).toBe(1);
    await sendAfter(1);
    expect(attempts()).toBe(2);
    // Bounced again: the next attempt waits twice as long.
    bounce();
    await sendAfter(60_000);
    expect(attempts()).toBe(2);
    await sendAfter(60_000);
    expect(attempts()).toBe(3);
    // This one stays on the chain: confirmed once the bounce window has passed.
    await sendAfter(119_999);
    expect(await row()).toEqual({ status: 'sent', attempts: 3 });
    await sendAfter(1);
    expect(await row()).toEqual({ status: 'confirmed', attempts: 3 });
    const [paid] = [...chain.paid].filter(([payoutAddress]) => mine(payoutAddress));
    expect(paid?.[1]).toBe(chain.payouts.find((payout) => mine(payout.payoutAddress))?.signed.total);
    expect(paid?.[1]).toBeGreaterThan(0n);
  });
});

describe('ChainAllowance', () => {
  /** Stores (or raises) the client's latest voucher for `contract`, as VoucherBook does. */
  const storeVoucher = (client: string, contract: string, total: bigint) =>
    testStore.store.db
      .insertInto('proxy_vouchers')
      .values({
        client,
        contract,
        owner: rawOf(12),
        total,
        query_id: total,
        signature: '00'.repeat(64),
        updated_at: new Date(),
      })
      .onConflict((oc) => oc.column('client').doUpdateSet({ total }))
      .execute();

  /** A ChainAllowance over a fake chain and a manual clock, with a window of 100 and these cache times. */
  const allowanceWith = (cacheMs: { depositCacheMs: number; voucherCacheMs: number }) => {
    const chain = new FakeChain();
    const clock = new ManualClock(1_800_000_000_000);
    const allowance = new ChainAllowance(
      testStore.store.db,
      chain,
      { creditWindow: 100n, ...cacheMs },
      clock,
    );
    return { chain, clock, allowance };
  };

  it('is the lesser of the deposit and the signed total plus the window, with no window while closing', async () => {
    const { chain, clock, allowance } = allowanceWith({ depositCacheMs: 1_000, voucherCacheMs: 1_000 });
    const client = toHex(randomBytes(32));
    const contract = rawOf(11);
    await storeVoucher(client, contract, 500n);
    expect(await allowance.allowance(client)).toBe(0n);
    clock.advance(1_000);
    chain.accounts.set(contract, { balance: 10_000n, stake: 0n, chargedTotal: 400n, closing: false });
    expect(await allowance.allowance(client)).toBe(600n);
    // cached: a drop in the deposit shows after depositCacheMs
    chain.accounts.set(contract, { balance: 100n, stake: 50n, chargedTotal: 400n, closing: false });
    expect(await allowance.allowance(client)).toBe(600n);
    clock.advance(1_000);
    expect(await allowance.allowance(client)).toBe(550n);
    chain.accounts.set(contract, { balance: 10_000n, stake: 0n, chargedTotal: 400n, closing: true });
    allowance.forget(contract);
    expect(await allowance.allowance(client)).toBe(500n);
  });

  it('reuses a found voucher for voucherCacheMs (its total only grows), and sees a first voucher at once', async () => {
    const { chain, clock, allowance } = allowanceWith({ depositCacheMs: 60_000, voucherCacheMs: 1_000 });
    const client = toHex(randomBytes(32));
    const contract = rawOf(21);
    chain.accounts.set(contract, { balance: 10_000n, stake: 0n, chargedTotal: 0n, closing: false });
    expect(await allowance.allowance(client)).toBe(0n);
    await storeVoucher(client, contract, 500n);
    expect(await allowance.allowance(client)).toBe(600n);
    await storeVoucher(client, contract, 900n);
    expect(await allowance.allowance(client)).toBe(600n);
    clock.advance(1_000);
    expect(await allowance.allowance(client)).toBe(1_000n);
  });
});
