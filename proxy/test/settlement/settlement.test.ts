import { ClientContract, WorkerContract } from '@cocoon/contracts';
import { CocoonClient, fromHex, ManualClock, signAmount, signRequest, toHex, utf8 } from '@cocoon/shared';
import {
  chargeTarget,
  MemoryVoucherStore,
  VoucherHeld,
  VoucherMessage,
  VoucherSigner,
} from '@cocoon/shared/client/voucher';
import { Address, type Sender, toNano } from '@ton/core';
import { internal } from '@ton/sandbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { StoreCredit } from '../../src/credit.js';
import { Ledger } from '../../src/ledger.js';
import { ChainAllowance } from '../../src/settlement/allowance.js';
import { SettlementOutbox } from '../../src/settlement/outbox.js';
import type { SettlementChain } from '../../src/settlement/port.js';
import { SettlementSettings } from '../../src/settlement/settings.js';
import { VoucherBook } from '../../src/settlement/vouchers.js';
import { devPolicy, MODEL, openTestStore, startHarness } from '../support/harness.js';
import { waitFor } from '../support/wait.js';
import { meterJob, PRICE, type SandboxNetwork, sandboxNetwork, WORKER_FEE } from './sandbox.js';

let testStore: Awaited<ReturnType<typeof openTestStore>>;
let net: SandboxNetwork;

beforeAll(async () => {
  testStore = await openTestStore();
  net = await sandboxNetwork();
}, 60_000);
afterAll(async () => {
  await net?.chain.close();
  await testStore?.remove();
});

/** One job of 1,000 prompt and 49,000 completion tokens: 1,000,000 nanotons at 20 per token. */
const JOB_TOKENS = 49_000;
const JOB_AMOUNT = 1_000_000n;

const settings = (overrides: Partial<SettlementSettings> = {}) =>
  SettlementSettings.parse({
    chargeThreshold: 5n * JOB_AMOUNT,
    payoutThreshold: 8n * JOB_AMOUNT,
    chargeIntervalMs: 3_600_000,
    payoutIntervalMs: 3_600_000,
    creditWindow: 3n * JOB_AMOUNT,
    depositCacheMs: 1,
    voucherCacheMs: 0,
    resendAfterMs: 60_000,
    ...overrides,
  });

function outbox(chain: SettlementChain, clock: ManualClock, overrides: Partial<SettlementSettings> = {}) {
  return new SettlementOutbox({
    db: testStore.store.db,
    chain,
    proxySecretKey: net.proxyKey.secretKey,
    settings: settings(overrides),
    clock,
  });
}

const worker = () => ({
  key: net.workerKey,
  payoutAddress: net.workerOwner.address.toString(),
});

describe('settlement on the sandbox chain', () => {
  it('charges what the client signed, pays the worker its fee, keeps the commission, to the nanoton', async () => {
    const clock = new ManualClock(Date.now());
    const deposit = toNano('1');
    const client = await net.client('client-e2e', deposit);
    const credited = (await client.contract.getState()).balance;
    expect(credited).toBeGreaterThan(deposit - toNano('0.02'));
    const book = new VoucherBook(testStore.store.db, net.port, clock);
    const allowance = new ChainAllowance(testStore.store.db, net.port, settings(), clock);
    const credit = new StoreCredit(testStore.store.db, allowance);
    const ledger = new Ledger(testStore.store.db);
    const signer = new VoucherSigner(
      client.key.secretKey,
      client.owner.address.toString(),
      client.contract.address.toString(),
      new MemoryVoucherStore(),
    );
    const settle = outbox(net.port, clock);
    const workerBefore = await net.chain.getBalance(net.workerOwner.address);
    const proxyBefore = await net.proxy.getState();

    // The addresses derived here are the ones the Proxy contract trusts.
    expect(
      (
        await net.proxy.getClientAddress(client.owner.address, Buffer.from(client.key.publicKey))
      ).toRawString(),
    ).toBe(net.port.clientContractAddress(client.owner.address.toString(), client.account));
    expect((await net.proxy.getWorkerAddress(net.workerOwner.address)).toRawString()).toBe(
      net.port.workerContractAddress(net.workerOwner.address.toString()),
    );

    // Unknown until its first voucher names its contract; then its deposit bounded by the window.
    expect(await allowance.allowance(client.account)).toBe(0n);
    await book.accept(client.account, await signer.latest());
    expect(await allowance.allowance(client.account)).toBe(3n * JOB_AMOUNT);

    const JOBS = 23;
    let metered = 0n;
    let charges = 0;
    for (let i = 0; i < JOBS; i++) {
      const jobId = `${i.toString(16).padStart(2, '0')}${'0'.repeat(30)}`;
      await credit.reserve(client.account, jobId, JOB_AMOUNT);
      const receipt = await meterJob(ledger, client.account, worker(), JOB_TOKENS);
      await credit.settle(jobId, receipt.amount);
      expect(receipt.amount).toBe(JOB_AMOUNT);
      metered += receipt.amount;
      // the client signs only after verifying the receipt, and the proxy takes it
      expect(await book.accept(client.account, await signer.add(receipt.amount))).toEqual({
        total: metered,
        metered,
      });
      const before = (await client.contract.getState()).chargedTotal;
      await settle.tick();
      if ((await client.contract.getState()).chargedTotal !== before) charges += 1;
    }
    // thresholds: a charge per 5 jobs, a payout per 8 jobs' worth of earnings (7.6 per 8 jobs)
    expect(charges).toBe(4);
    expect((await client.contract.getState()).chargedTotal).toBe(20n * JOB_AMOUNT);

    // A client that stopped signing is cut off after the window.
    await credit.reserve(client.account, 'ff'.repeat(16), 3n * JOB_AMOUNT);
    await expect(credit.reserve(client.account, 'fe'.repeat(16), 1n)).rejects.toMatchObject({
      code: 'insufficient_credit',
    });
    await credit.settle('ff'.repeat(16), 0n);

    // The intervals pass: what is left settles whatever the amount.
    clock.advance(3_600_000);
    await settle.tick();
    const earned = (metered * WORKER_FEE) / PRICE;
    const clientState = await client.contract.getState();
    expect(clientState).toMatchObject({ chargedTotal: metered, balance: credited - metered, stake: 0n });
    const workerContract = net.chain.open(
      WorkerContract.createFromAddress(
        Address.parse(net.port.workerContractAddress(net.workerOwner.address.toString())),
      ),
    );
    expect((await workerContract.getState()).paidTotal).toBe(earned);
    const proxyAfter = await net.proxy.getState();
    expect(proxyAfter.balance - proxyBefore.balance).toBe(metered - earned);
    expect(proxyAfter.stake).toBe(proxyBefore.stake);
    // the worker's wallet got its earnings plus the change of the payout messages' gas
    const received = (await net.chain.getBalance(net.workerOwner.address)) - workerBefore;
    expect(received).toBeGreaterThanOrEqual(earned);
    expect(received).toBeLessThan(earned + 3n * toNano('0.01'));

    // Still on the chain once the bounce window has passed: confirmed.
    clock.advance(settings().bounceWindowMs);
    await settle.tick();
    expect(await settle.summary()).toMatchObject({
      charged: metered,
      paid: earned,
      commission: metered - earned,
      unconfirmed: 0,
    });
    // nothing is left to send: a further tick sends nothing
    const sent = await testStore.store.db
      .selectFrom('proxy_outbox')
      .select(['kind', 'cumulative', 'status', 'attempts'])
      .where('target', 'in', [client.account, net.workerOwner.address.toString()])
      .execute();
    expect(sent.every((row) => row.status === 'confirmed' && row.attempts === 1)).toBe(true);
    expect(await settle.send()).toEqual({ sent: 0, confirmed: 0 });
  });

  it('after a crash between sent and confirmed, confirms or resends the same total and charges once', async () => {
    const clock = new ManualClock(Date.now());
    const client = await net.client('client-crash', toNano('1'));
    const deposit = (await client.contract.getState()).balance;
    const book = new VoucherBook(testStore.store.db, net.port, clock);
    const ledger = new Ledger(testStore.store.db);
    const signer = new VoucherSigner(
      client.key.secretKey,
      client.owner.address.toString(),
      client.contract.address.toString(),
      new MemoryVoucherStore(),
    );
    const meterAndSign = async (jobs: number) => {
      for (let i = 0; i < jobs; i++) {
        const receipt = await meterJob(ledger, client.account, worker(), JOB_TOKENS);
        await book.accept(client.account, await signer.add(receipt.amount));
      }
    };
    const outboxRows = () =>
      testStore.store.db
        .selectFrom('proxy_outbox')
        .select(['cumulative', 'status', 'attempts'])
        .where('kind', '=', 'charge')
        .where('target', '=', client.account)
        .orderBy('cumulative')
        .execute();
    const overrides = { chargeThreshold: 3n * JOB_AMOUNT };

    // 1. The Charge lands; the process dies before it sees the confirmation.
    await meterAndSign(3);
    const landsThenDies: SettlementChain = {
      ...net.port,
      sendCharge: async (contract, signed) => {
        await net.port.sendCharge(contract, signed);
        throw new Error('process killed');
      },
    };
    await outbox(landsThenDies, clock, overrides).tick();
    expect(await outboxRows()).toEqual([{ cumulative: 3n * JOB_AMOUNT, status: 'sent', attempts: 1 }]);
    // After the restart the chain shows the total: confirmed without sending again.
    const restarted = outbox(net.port, clock, overrides);
    clock.advance(settings().bounceWindowMs);
    expect(await restarted.send()).toEqual({ sent: 0, confirmed: 1 });
    expect(await client.contract.getState()).toMatchObject({
      chargedTotal: 3n * JOB_AMOUNT,
      balance: deposit - 3n * JOB_AMOUNT,
    });

    // 2. The process dies after persisting "sent", before the Charge left.
    await meterAndSign(3);
    const diesBeforeSending: SettlementChain = {
      ...net.port,
      sendCharge: async () => {
        throw new Error('process killed');
      },
    };
    await outbox(diesBeforeSending, clock, overrides).tick();
    expect((await client.contract.getState()).chargedTotal).toBe(3n * JOB_AMOUNT);
    const again = outbox(net.port, clock, overrides);
    // still in flight as far as the store knows: not sent again before resendAfterMs
    expect(await again.send()).toEqual({ sent: 0, confirmed: 0 });
    clock.advance(60_000);
    expect(await again.send()).toEqual({ sent: 1, confirmed: 0 });
    clock.advance(settings().bounceWindowMs);
    expect(await again.send()).toEqual({ sent: 0, confirmed: 1 });
    expect(await outboxRows()).toEqual([
      { cumulative: 3n * JOB_AMOUNT, status: 'confirmed', attempts: 1 },
      { cumulative: 6n * JOB_AMOUNT, status: 'confirmed', attempts: 2 },
    ]);

    // A replay of the same voucher (or an older one) moves nothing: totals only grow.
    const latest = await signer.latest();
    await net.port.sendCharge(latest.contract, {
      total: latest.total,
      queryId: latest.queryId,
      signature: fromHex(latest.signature),
    });
    expect(await client.contract.getState()).toMatchObject({
      chargedTotal: 6n * JOB_AMOUNT,
      balance: deposit - 6n * JOB_AMOUNT,
    });
  });
});

describe('a Charge that bounces off a closed Proxy contract', () => {
  it('is not confirmed while its bounce may come, and is sent again, less often each time, after it came', async () => {
    const closed = await sandboxNetwork();
    const clock = new ManualClock(Date.now());
    const client = await closed.client('client-bounce', toNano('1'));
    const deposit = (await client.contract.getState()).balance;
    // The operator closed its Proxy contract: it refuses every ClientPayment from now on.
    await closed.proxy.sendRequestClose(closed.proxyOwner.getSender());
    closed.chain.setTime(Math.floor(clock.now() / 1000) + 86_400 + 1);
    await closed.proxy.sendClose(closed.proxyOwner.getSender());

    // A chain that lands a Charge on the Client contract and holds the rest (its payment, the bounce)
    // until `landRest`: what a real chain shows for a few blocks.
    let rest: AsyncIterator<unknown> | undefined;
    const landRest = async () => {
      while (rest !== undefined && !(await rest.next()).done) {}
      rest = undefined;
    };
    const staged: Sender = {
      address: closed.chain.wallet,
      async send(args) {
        rest = await closed.chain.blockchain.sendMessageIter(
          internal({
            from: closed.chain.wallet,
            to: args.to,
            value: args.value,
            body: args.body ?? undefined,
          }),
          // its own queue: the wrapper's send runs the sandbox's default queue to the end
          { allowParallel: true },
        );
        await rest.next();
      },
    };
    const chain: SettlementChain = {
      ...closed.port,
      sendCharge: (contract, signed) =>
        closed.chain.open(ClientContract.createFromAddress(Address.parse(contract))).sendCharge(staged, {
          total: signed.total,
          queryId: signed.queryId,
          signature: Buffer.from(signed.signature),
        }),
    };
    const ledger = new Ledger(testStore.store.db);
    const book = new VoucherBook(testStore.store.db, closed.port, clock);
    const signer = new VoucherSigner(
      client.key.secretKey,
      client.owner.address.toString(),
      client.contract.address.toString(),
      new MemoryVoucherStore(),
    );
    for (let i = 0; i < 3; i++) {
      const receipt = await meterJob(ledger, client.account, worker(), JOB_TOKENS);
      await book.accept(client.account, await signer.add(receipt.amount));
    }
    const settle = new SettlementOutbox({
      db: testStore.store.db,
      chain,
      proxySecretKey: closed.proxyKey.secretKey,
      settings: settings({ chargeThreshold: 3n * JOB_AMOUNT }),
      clock,
    });
    const row = () =>
      testStore.store.db
        .selectFrom('proxy_outbox')
        .select(['status', 'attempts'])
        .where('kind', '=', 'charge')
        .where('target', '=', client.account)
        .executeTakeFirstOrThrow();

    /** The clock moves on by `ms`, then the outbox sends and confirms what it may; the row it leaves. */
    const sendAfter = async (ms: number) => {
      clock.advance(ms);
      await settle.send();
      return row();
    };

    await settle.tick();
    // The Client contract took the Charge; its payment is on the way to the closed Proxy contract.
    expect(await client.contract.getState()).toMatchObject({ chargedTotal: 3n * JOB_AMOUNT });
    expect(await sendAfter(30_000)).toEqual({ status: 'sent', attempts: 1 });
    // The payment bounces: the Client contract takes the charge back.
    await landRest();
    expect(await client.contract.getState()).toMatchObject({ chargedTotal: 0n, balance: deposit });
    expect(await sendAfter(30_000)).toEqual({ status: 'sent', attempts: 2 });
    await landRest();
    // Bounced again: the next attempt waits 120 s, not 60.
    expect(await sendAfter(60_000)).toEqual({ status: 'sent', attempts: 2 });
    expect(await sendAfter(60_000)).toEqual({ status: 'sent', attempts: 3 });
    await landRest();
    expect(await client.contract.getState()).toMatchObject({ chargedTotal: 0n, balance: deposit });
  });
});

describe('POST /v1/vouchers', () => {
  it('takes a voucher the client signed for its contract, up to what was metered, and refuses the rest', async () => {
    const harness = await startHarness(testStore.store, {
      settlement: { chain: net.port, secretKey: net.proxyKey.secretKey },
    });
    try {
      const client = await net.client('client-http', 0n);
      const other = await net.client('client-http-other', 0n);
      const signer = new VoucherSigner(
        client.key.secretKey,
        client.owner.address.toString(),
        client.contract.address.toString(),
        new MemoryVoucherStore(),
      );
      const post = async (voucher: VoucherMessage, key = client.key) => {
        const body = utf8(JSON.stringify(z.encode(VoucherMessage, voucher)));
        const headers = signRequest(
          { method: 'POST', path: '/v1/vouchers', body },
          key.secretKey,
          Math.floor(Date.now() / 1000),
        );
        const response = await fetch(`${harness.proxy.url}/v1/vouchers`, { method: 'POST', headers, body });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      for (let i = 0; i < 3; i++) await meterJob(harness.proxy.ledger, client.account, worker(), JOB_TOKENS);
      await signer.add(JOB_AMOUNT);
      const good = await signer.add(JOB_AMOUNT);
      expect(await post(good)).toEqual({
        status: 200,
        body: { total: String(2n * JOB_AMOUNT), metered: String(3n * JOB_AMOUNT) },
      });
      // resending the same total is harmless
      expect((await post(good)).status).toBe(200);

      const refusal = async (voucher: VoucherMessage, status: number, code: string, key = client.key) =>
        expect(await post(voucher, key)).toEqual({
          status,
          body: {
            error: {
              code: status === 403 ? 'forbidden' : 'bad_request',
              message: expect.stringContaining(`(${code})`),
            },
          },
        });
      const refusalCount = async (reason: string) =>
        (await harness.proxy.metrics.refusals.get()).values.find((value) => value.labels.reason === reason)
          ?.value ?? 0;
      const forged = signAmount(chargeTarget({ ...good, total: 3n * JOB_AMOUNT }), other.key.secretKey);
      await refusal({ ...good, total: 3n * JOB_AMOUNT, signature: toHex(forged) }, 403, 'bad_signature');
      // signed by this client for another client's contract (the other's owner and contract)
      const foreignContract = other.contract.address.toRawString();
      const foreign = { ...good, contract: foreignContract, owner: other.owner.address.toRawString() };
      const signedForeign = signAmount(
        chargeTarget({ ...foreign, total: 3n * JOB_AMOUNT }),
        client.key.secretKey,
      );
      await refusal(
        { ...foreign, total: 3n * JOB_AMOUNT, signature: toHex(signedForeign) },
        403,
        'wrong_contract',
      );
      // this client's key with its own contract claimed under another owner
      await refusal({ ...good, owner: other.owner.address.toRawString() }, 403, 'wrong_contract');
      const lower = signAmount(chargeTarget({ ...good, total: JOB_AMOUNT }), client.key.secretKey);
      await refusal({ ...good, total: JOB_AMOUNT, signature: toHex(lower) }, 400, 'lower_total');
      const over = signAmount(chargeTarget({ ...good, total: 3n * JOB_AMOUNT + 1n }), client.key.secretKey);
      await refusal({ ...good, total: 3n * JOB_AMOUNT + 1n, signature: toHex(over) }, 400, 'over_metered');
      expect(await refusalCount('forged_voucher')).toBe(3);
      expect(await refusalCount('invalid_voucher')).toBe(2);
      // the client can read back the latest voucher it signed (to recover a lost store)
      const headers = signRequest(
        { method: 'GET', path: '/v1/vouchers', body: new Uint8Array() },
        client.key.secretKey,
        Math.floor(Date.now() / 1000),
      );
      const held = await (await fetch(`${harness.proxy.url}/v1/vouchers`, { headers })).json();
      expect(VoucherHeld.parse(held).voucher).toEqual(good);
    } finally {
      await harness.close();
    }
  });
});

describe('CocoonClient paying by vouchers through a settling proxy', () => {
  it('runs jobs within its deposit and signed window, and the proxy charges its signed total', async () => {
    const clock = new ManualClock(Date.now());
    const credit = new StoreCredit(
      testStore.store.db,
      new ChainAllowance(testStore.store.db, net.port, settings(), clock),
    );
    const harness = await startHarness(testStore.store, {
      credit,
      settlement: { chain: net.port, secretKey: net.proxyKey.secretKey, settings: { tickMs: 3_600_000 } },
    });
    try {
      const worker = await harness.worker();
      await waitFor(() => worker.workerId !== undefined, 'the worker admitted');
      const paying = await net.client('client-sdk', toNano('1'));
      const sdk = (account: typeof paying) =>
        new CocoonClient({
          proxyUrl: harness.proxy.url,
          clientKey: account.key,
          policy: devPolicy(),
          vouchers: {
            owner: account.owner.address.toString(),
            contract: account.contract.address.toString(),
          },
        });
      const client = sdk(paying);
      let total = 0n;
      for (let i = 0; i < 3; i++) {
        const result = await client.chat(
          { messages: [{ role: 'user', content: `job ${i}` }] },
          { model: MODEL },
        );
        total += result.receipt.amount;
        expect(result.voucher?.total).toBe(total);
      }
      const book = new VoucherBook(testStore.store.db, net.port, clock);
      expect((await book.latest(paying.account))?.total).toBe(total);
      expect((await harness.proxy.ledger.clientTotals(paying.account)).amount).toBe(total);

      // the proxy's outbox charges the signed total (the test worker's payout address is no TON address:
      // its earnings stay unpaid, and the charge goes out regardless)
      const settle = outbox(net.port, clock, { chargeThreshold: 1n });
      await settle.tick();
      expect((await paying.contract.getState()).chargedTotal).toBe(total);
      // still inside its bounce window: counted as unconfirmed on /metrics, as in the outbox's summary
      const metrics = await (await fetch(`${harness.proxy.url}/metrics`)).text();
      const unconfirmed = Number(/^cocoon_proxy_settlement_unconfirmed (\d+)$/m.exec(metrics)?.[1]);
      expect(unconfirmed).toBeGreaterThanOrEqual(1);
      expect(unconfirmed).toBe((await settle.summary()).unconfirmed);

      // a client whose contract holds nothing gets no credit
      const broke = sdk(await net.client('client-sdk-broke', 0n));
      await expect(
        broke.chat({ messages: [{ role: 'user', content: 'free?' }] }, { model: MODEL }),
      ).rejects.toMatchObject({ code: 'proxy_error', detail: { status: 402, code: 'insufficient_credit' } });
    } finally {
      await harness.close();
    }
  });
});
