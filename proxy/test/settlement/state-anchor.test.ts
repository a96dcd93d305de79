import { ensureProxy } from '@cocoon/contracts';
import { ManualClock } from '@cocoon/shared';
import { toNano } from '@ton/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/ledger.js';
import { contractSettlement } from '../../src/settlement/contracts.js';
import type { SettlementChain } from '../../src/settlement/port.js';
import { SettlementSettings } from '../../src/settlement/settings.js';
import { StateAnchor, StateRollbackError } from '../../src/settlement/state-anchor.js';
import { openTestStore, startHarness } from '../support/harness.js';
import { meterJob, type SandboxNetwork, sandboxNetwork } from './sandbox.js';

let testStore: Awaited<ReturnType<typeof openTestStore>>;
let net: SandboxNetwork;
/** The settlement port over a Proxy contract owned by the chain's wallet, as `cocoon-proxy` deploys it. */
let port: SettlementChain;

beforeAll(async () => {
  testStore = await openTestStore();
  net = await sandboxNetwork();
  const proxy = await ensureProxy(net.chain, {
    owner: net.chain.wallet,
    root: net.root.address,
    publicKey: Buffer.from(net.proxyKey.publicKey),
    closeDelay: 86_400,
    clientCloseDelay: net.link.clientCloseDelay,
    stake: toNano('15'),
  });
  port = contractSettlement(net.chain, {
    link: { ...net.link, proxy: proxy.address },
    proxy,
    root: net.root,
    codes: net.codes,
  });
}, 60_000);
afterAll(async () => {
  await net?.chain.close();
  await testStore?.remove();
});

const INTERVAL_MS = SettlementSettings.parse({}).stateIntervalMs;

const anchorAt = (clock: ManualClock) =>
  new StateAnchor({ db: testStore.store.db, chain: port, intervalMs: INTERVAL_MS, tickMs: 5_000, clock });

const worker = () => ({ key: net.workerKey, payoutAddress: net.workerOwner.address.toString() });

const localRows = () =>
  testStore.store.db.selectFrom('proxy_state_records').selectAll().orderBy('seqno').execute();

describe('settlement state hash on the Proxy contract', () => {
  it('records the hash of the totals on schedule, chained to the previous one', async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const anchor = anchorAt(clock);
    expect(await port.stateRecord()).toMatchObject({ seqno: 0n });
    await anchor.verify();

    await anchor.tick();
    const first = await port.stateRecord();
    expect(first.seqno).toBe(1n);
    expect(first.at).toBeGreaterThan(0);
    expect(await localRows()).toMatchObject([{ seqno: 1n, state_hash: first.stateHash }]);
    expect(first.stateHash).toBe(StateAnchor.chainHash('0'.repeat(64), 1n, await anchor.digest()));

    clock.advance(INTERVAL_MS - 1);
    await anchor.tick();
    expect((await port.stateRecord()).seqno).toBe(1n);

    const ledger = new Ledger(testStore.store.db);
    await meterJob(ledger, 'aa'.repeat(32), worker(), 49_000);
    expect(await anchor.digest()).toContain(`client ${'aa'.repeat(32)} 1 1000000 0`);
    clock.advance(1);
    await anchor.tick();
    const second = await port.stateRecord();
    expect(second.seqno).toBe(2n);
    expect(second.stateHash).toBe(StateAnchor.chainHash(first.stateHash, 2n, await anchor.digest()));
    expect(second.stateHash).not.toBe(first.stateHash);
    await anchor.verify();
  });

  it('refuses a database restored from before the last record, at proxy start', async () => {
    const latest = await anchorAt(new ManualClock(0)).latest();
    expect(latest?.seqno).toBe(2n);
    // the copy was taken before record #2
    await testStore.store.db.deleteFrom('proxy_state_records').where('seqno', '=', 2n).execute();
    const error = await anchorAt(new ManualClock(0))
      .verify()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateRollbackError);
    expect((error as Error).message).toMatch(/Proxy contract records state #2 \(hash [0-9a-f]{64}/);
    expect((error as Error).message).toContain("the database's latest state is #1");

    await expect(
      startHarness(testStore.store, { settlement: { chain: port, secretKey: net.proxyKey.secretKey } }),
    ).rejects.toThrow(StateRollbackError);
    expect((await port.stateRecord()).seqno).toBe(2n);
  });

  it('refuses a database with another hash for the chain’s seqno', async () => {
    const onChain = await port.stateRecord();
    await testStore.store.db
      .insertInto('proxy_state_records')
      .values({ seqno: onChain.seqno, state_hash: 'ff'.repeat(32) })
      .execute();
    await expect(anchorAt(new ManualClock(0)).verify()).rejects.toThrow(
      `the database has hash ${'ff'.repeat(32)} for #${onChain.seqno}`,
    );
  });

  it('starts on the database that wrote the last record, and keeps recording from it', async () => {
    const onChain = await port.stateRecord();
    await testStore.store.db
      .updateTable('proxy_state_records')
      .set({ state_hash: onChain.stateHash })
      .where('seqno', '=', onChain.seqno)
      .execute();
    const harness = await startHarness(testStore.store, {
      settlement: {
        chain: port,
        secretKey: net.proxyKey.secretKey,
        settings: { stateIntervalMs: 50, tickMs: 20 },
      },
    });
    try {
      await expect.poll(async () => (await port.stateRecord()).seqno, { timeout: 5_000 }).toBeGreaterThan(2n);
      expect((await harness.proxy.stateAnchor?.latest())?.seqno).toBeGreaterThanOrEqual(
        (await port.stateRecord()).seqno,
      );
    } finally {
      await harness.close();
    }
  });
});
