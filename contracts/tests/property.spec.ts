import { Address, type Builder, beginCell, type Cell, toNano } from '@ton/core';
import { internal } from '@ton/sandbox';
import { flattenTransaction } from '@ton/test-utils';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { runs, timeoutFor } from '../../shared/test/property/support.js';
import { ExitCode, Op } from '../wrappers/constants.js';
import { DEFAULT_ROOT_PARAMS, RootContract } from '../wrappers/Root.js';
import { type Actors, setupActors } from './helpers.js';

/**
 * Random and forged messages to every contract: whatever an unauthorized sender sends, and whatever
 * malformed body anyone sends, the contract refuses it (the transaction aborts and bounces) and its data
 * and balance stay as they were.
 */

/** TVM's exit code for reading past the end of a cell (a body too short for its message). */
const CELL_UNDERFLOW = 9;

// ---- Message bodies ----

type Field = (builder: Builder) => Builder;

const uint = (bits: number): fc.Arbitrary<Field> =>
  fc.bigInt({ min: 0n, max: 2n ** BigInt(bits) - 1n }).map((value) => (b) => b.storeUint(value, bits));
const queryId = uint(64);
const hash256 = uint(256);
const flag = fc.boolean().map(
  (value): Field =>
    (b) =>
      b.storeBit(value),
);
const coins = fc.bigInt({ min: 0n, max: 2n ** 120n - 1n }).map(
  (value): Field =>
    (b) =>
      b.storeCoins(value),
);
const signature = fc.uint8Array({ minLength: 64, maxLength: 64 }).map(
  (bytes): Field =>
    (b) =>
      b.storeBuffer(Buffer.from(bytes)),
);
const address = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((hash) => new Address(0, Buffer.from(hash)));
const addressField = address.map(
  (value): Field =>
    (b) =>
      b.storeAddress(value),
);

const cellOf = (bits: boolean[], refs: Cell[]): Cell => {
  const b = beginCell();
  for (const bit of bits) b.storeBit(bit);
  for (const ref of refs) b.storeRef(ref);
  return b.endCell();
};

const randomBits = fc.array(fc.boolean(), { maxLength: 300 });

/** A cell of random bits with up to two random children, three levels deep at most. */
const randomCell: fc.Arbitrary<Cell> = [1, 2, 3].reduce<fc.Arbitrary<Cell>>(
  (children, _level) =>
    fc.tuple(randomBits, fc.array(children, { maxLength: 2 })).map(([bits, refs]) => cellOf(bits, refs)),
  randomBits.map((bits) => cellOf(bits, [])),
);
const refField = randomCell.map(
  (cell): Field =>
    (b) =>
      b.storeRef(cell),
);

/** A well-formed body of `op` with random field values. */
const body = (op: number, ...fields: fc.Arbitrary<Field>[]): fc.Arbitrary<Cell> =>
  fc
    .tuple(...fields)
    .map((written) => written.reduce((b, field) => field(b), beginCell().storeUint(op, 32)).endCell());

interface Guarded {
  op: number;
  body: fc.Arbitrary<Cell>;
  /** Who may send it: the owner, the pending owner, anyone with the signature, or the contract its fields name. */
  authority: 'owner' | 'pendingOwner' | 'signature' | 'derivedSender';
  /** The exit code that refuses it from anyone else. */
  refusal: number;
  /** The handler reads every field, so any cut body is malformed even from the authorized sender. */
  readsEveryField: boolean;
}

interface Target {
  name: string;
  address: Address;
  owner: Address;
  /** Ops anyone may send that credit the contract (top-ups); random bodies avoid them. */
  openOps: number[];
  guarded: Guarded[];
  /** Message value that covers every handler's gas bound, so refusals are about authority. */
  value: bigint;
}

const ownerOp = (op: number, readsEveryField: boolean, ...fields: fc.Arbitrary<Field>[]): Guarded => ({
  op,
  body: body(op, ...fields),
  authority: 'owner',
  refusal: ExitCode.notOwner,
  readsEveryField,
});

const ALL_OPS = Object.values(Op);

// ---- Checking one message ----

interface Snapshot {
  data: string;
  balance: bigint;
}

interface Delivery {
  from: Address;
  value: bigint;
  body: Cell;
}

describe('contracts under random and forged messages', () => {
  let a: Actors;
  let targets: Record<'root' | 'client' | 'proxy' | 'worker', Target>;

  async function snapshot(target: Address): Promise<Snapshot> {
    const contract = await a.chain.getContract(target);
    const state = contract.accountState;
    if (state?.type !== 'active') throw new Error(`${target} is not active`);
    return { data: state.state.data?.toBoc().toString('base64') ?? '', balance: contract.balance };
  }

  /** Sends a bounceable message; returns the contract's transaction and its state before and after. */
  async function deliver(target: Target, { from, value, body: cell }: Delivery) {
    const before = await snapshot(target.address);
    const result = await a.chain.sendMessage(
      internal({ from, to: target.address, value, body: cell, bounce: true }),
    );
    const tx = result.transactions.find((t) => flattenTransaction(t).to?.equals(target.address));
    if (tx === undefined) throw new Error(`no transaction on ${target.name}`);
    return {
      tx: flattenTransaction(tx),
      outMessages: tx.outMessages.size,
      before,
      after: await snapshot(target.address),
    };
  }

  /** A refusal: aborted with one of `codes`, bounced, and nothing changed on the contract. */
  async function expectRefused(target: Target, delivery: Delivery, codes: readonly number[]) {
    const { tx, outMessages, before, after } = await deliver(target, delivery);
    const what = `${target.name} ${delivery.body.toString()} from ${delivery.from}`;
    expect(tx.aborted, what).toBe(true);
    expect(codes, `${what}: exit code ${tx.exitCode}`).toContain(tx.exitCode);
    expect(after.data, what).toBe(before.data);
    expect(after.balance, what).toBe(before.balance);
    // The value goes back to the sender in the bounce, the only message a refusal sends.
    expect(outMessages, what).toBe(1);
  }

  const targetArb = fc.constantFrom(...(['root', 'client', 'proxy', 'worker'] as const));
  const valueArb = (target: Target) => fc.bigInt({ min: target.value, max: toNano('5') });

  /** A sender that is none of the contract's authorities: a known stranger, another party or anyone. */
  const outsiderArb = (target: Target) =>
    fc
      .oneof(
        address,
        fc.constantFrom(
          a.stranger.address,
          a.rootOwner.address,
          a.proxyOwner.address,
          a.clientOwner.address,
          a.workerOwner.address,
          a.proxy.address,
          a.client.address,
          a.worker.address,
        ),
      )
      // A contract never sends itself a message it would not understand, so it is no outsider.
      .filter((sender) => !sender.equals(target.owner) && !sender.equals(target.address));

  beforeAll(async () => {
    a = await setupActors();
    const root = a.chain.openContract(
      RootContract.createFromConfig(
        { owner: a.rootOwner.address, params: DEFAULT_ROOT_PARAMS },
        a.codes.root,
      ),
    );
    await root.sendDeploy(a.rootOwner.getSender());
    await a.client.sendTopUp(a.clientOwner.getSender(), { value: toNano('10') });
    await a.worker.sendDeploy(a.workerOwner.getSender());

    const value = toNano('0.1');
    targets = {
      root: {
        name: 'Root',
        address: root.address,
        owner: a.rootOwner.address,
        openOps: [],
        value,
        guarded: [
          ownerOp(Op.transferOwnership, true, queryId, addressField),
          {
            op: Op.acceptOwnership,
            body: body(Op.acceptOwnership, queryId),
            authority: 'pendingOwner',
            refusal: ExitCode.notPendingOwner,
            readsEveryField: false,
          },
          ownerOp(Op.setWorkerImage, true, queryId, hash256, flag),
          ownerOp(Op.setProxyImage, true, queryId, hash256, flag),
          ownerOp(Op.setModel, true, queryId, hash256, uint(32)),
          ownerOp(Op.setProxy, true, queryId, addressField, flag),
          ownerOp(Op.setParams, true, queryId, refField),
          ownerOp(Op.upgradeCode, true, queryId, refField),
        ],
      },
      client: {
        name: 'Client',
        address: a.client.address,
        owner: a.clientOwner.address,
        openOps: [Op.topUp, Op.textComment, Op.addStake],
        value,
        guarded: [
          ownerOp(Op.withdraw, true, queryId, coins),
          ownerOp(Op.requestRefund, false, queryId),
          ownerOp(Op.forceRefund, false, queryId),
          ownerOp(Op.cooperativeClose, true, queryId, coins, signature),
          {
            op: Op.charge,
            body: body(Op.charge, queryId, coins, signature),
            authority: 'signature',
            refusal: ExitCode.badSignature,
            readsEveryField: true,
          },
        ],
      },
      proxy: {
        name: 'Proxy',
        address: a.proxy.address,
        owner: a.proxyOwner.address,
        openOps: [Op.addProxyStake],
        value,
        guarded: [
          {
            op: Op.clientPayment,
            body: body(Op.clientPayment, queryId, coins, coins, addressField, hash256),
            authority: 'derivedSender',
            refusal: ExitCode.untrustedSender,
            readsEveryField: true,
          },
          {
            op: Op.payoutRequest,
            body: body(Op.payoutRequest, queryId, coins, addressField),
            authority: 'derivedSender',
            refusal: ExitCode.untrustedSender,
            readsEveryField: true,
          },
          ownerOp(Op.withdrawCommission, true, queryId, coins),
          ownerOp(Op.requestProxyClose, false, queryId),
          ownerOp(Op.closeProxy, false, queryId),
          ownerOp(Op.recordState, true, queryId, uint(64), hash256),
        ],
      },
      worker: {
        name: 'Worker',
        address: a.worker.address,
        owner: a.workerOwner.address,
        openOps: [],
        value,
        guarded: [
          {
            op: Op.payout,
            body: body(Op.payout, queryId, coins, signature),
            authority: 'signature',
            refusal: ExitCode.badSignature,
            readsEveryField: true,
          },
        ],
      },
    };
  }, 120_000);

  it(
    'refuses a well-formed guarded message from anyone but its authority, with its exit code',
    async () => {
      const cases = targetArb.chain((key) => {
        const target = targets[key];
        return fc.record({
          target: fc.constant(key),
          message: fc
            .nat(target.guarded.length - 1)
            .chain((index) =>
              fc.record({ index: fc.constant(index), body: (target.guarded[index] as Guarded).body }),
            ),
          from: outsiderArb(target),
          value: valueArb(target),
        });
      });
      await fc.assert(
        fc.asyncProperty(cases, async ({ target: key, message, from, value }) => {
          const target = targets[key];
          const { refusal } = target.guarded[message.index] as Guarded;
          await expectRefused(target, { from, value, body: message.body }, [refusal]);
        }),
        runs(200),
      );
    },
    timeoutFor(20),
  );

  it(
    'refuses random bodies (unknown ops, and known ops with random fields) from anyone',
    async () => {
      const tail = fc.record({
        bits: fc.array(fc.boolean(), { maxLength: 600 }),
        refs: fc.array(randomCell, { maxLength: 3 }),
      });
      const cases = targetArb.chain((key) => {
        const target = targets[key];
        const op = fc
          .oneof(fc.constantFrom(...ALL_OPS), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
          .filter((candidate) => !target.openOps.includes(candidate));
        return fc.record({
          target: fc.constant(key),
          op: fc.option(op, { nil: undefined, freq: 8 }),
          tail,
          from: outsiderArb(target),
          value: valueArb(target),
        });
      });
      await fc.assert(
        fc.asyncProperty(cases, async ({ target: key, op, tail: { bits, refs }, from, value }) => {
          const target = targets[key];
          const prefix =
            op === undefined ? [] : [...op.toString(2).padStart(32, '0')].map((bit) => bit === '1');
          const cell = cellOf([...prefix, ...bits], refs);
          // An empty body is a plain transfer: a top-up, not a message to refuse.
          fc.pre(cell.bits.length > 0 || cell.refs.length > 0);
          const guarded = target.guarded.find((candidate) => candidate.op === op);
          const codes = [
            ExitCode.unknownOp,
            CELL_UNDERFLOW,
            ...(guarded === undefined ? [] : [guarded.refusal]),
          ];
          await expectRefused(target, { from, value, body: cell }, codes);
        }),
        runs(300),
      );
    },
    timeoutFor(20),
  );

  it(
    'refuses a cut-off guarded message even from its authority',
    async () => {
      const cases = targetArb.chain((key) => {
        const target = targets[key];
        const cut = target.guarded.filter(
          (guarded) => guarded.readsEveryField && guarded.authority !== 'pendingOwner',
        );
        return fc.record({
          target: fc.constant(key),
          body: fc.constantFrom(...cut).chain((guarded) => guarded.body),
          keepBits: fc.nat(),
          value: valueArb(target),
        });
      });
      await fc.assert(
        fc.asyncProperty(cases, async ({ target: key, body: full, keepBits, value }) => {
          const target = targets[key];
          // At least the op survives, at least one bit or the ref is lost.
          const bitsLeft = 32 + (keepBits % (full.bits.length - 32 + (full.refs.length > 0 ? 1 : 0)));
          const slice = full.beginParse();
          const cut = beginCell()
            .storeBits(slice.loadBits(Math.min(bitsLeft, full.bits.length)))
            .endCell();
          // Usually the cut field's read fails; a check on a field read before it may refuse first.
          await expectRefused(target, { from: target.owner, value, body: cut }, [
            CELL_UNDERFLOW,
            ...Object.values(ExitCode),
          ]);
        }),
        runs(150),
      );
    },
    timeoutFor(20),
  );

  it('sees the change an authorized message makes (so unchanged state above means refused)', async () => {
    const root = targets.root;
    const { before, after, tx } = await deliver(root, {
      from: root.owner,
      value: root.value,
      body: beginCell()
        .storeUint(Op.setModel, 32)
        .storeUint(1n, 64)
        .storeUint(42n, 256)
        .storeUint(7, 32)
        .endCell(),
    });
    expect(tx.aborted).toBe(false);
    expect(after.data).not.toBe(before.data);
  });
});
