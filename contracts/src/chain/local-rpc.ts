// Node-only: serves the embedded chain to other local processes (the `cocoon` CLI) over the part of
// toncenter's v2 JSON-RPC that @ton/ton's TonClient uses for `open()` getters, wallet sends, balances,
// deployment checks and transaction history. So a process that does not own the sandbox reaches it through
// the very code path (NetworkChain) it uses on testnet and mainnet. Loopback only: it takes any signed
// message and answers any read, as a public toncenter does, but for this machine alone.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Address,
  type Builder,
  beginCell,
  Cell,
  loadMessage,
  type Message,
  storeStateInit,
  storeTransaction,
  type Transaction,
  type TupleItem,
} from '@ton/core';
import { GetMethodError } from '@ton/sandbox';
import { z } from 'zod';
import type { SandboxChain } from './sandbox.js';

/** Where toncenter serves its JSON-RPC; the same path here, so an endpoint URL reads the same. */
export const CHAIN_RPC_PATH = '/api/v2/jsonRPC';
const MAX_BODY_BYTES = 1 << 20;
/** The most transactions one getTransactions page returns (the sandbox keeps 1000 per account). */
const MAX_TRANSACTIONS = 1_000;

/** Text that `parse` turns into a value, or a validation issue naming what was expected. */
const parsedText = <T>(expected: string, parse: (text: string) => T) =>
  z.string().transform((text, ctx) => {
    try {
      return parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}` });
      return z.NEVER;
    }
  });
const address = parsedText('a TON address', (text) => Address.parse(text));
const boc = parsedText('a base64 BOC', (text) => Cell.fromBase64(text));
const decimal = z.string().regex(/^\d+$/, 'expected a decimal integer');
/** A transaction hash: toncenter takes hex or base64. */
const hash = z
  .string()
  .transform((text) =>
    /^[0-9a-fA-F]{64}$/.test(text) ? text.toLowerCase() : Buffer.from(text, 'base64').toString('hex'),
  )
  .pipe(z.string().regex(/^[0-9a-f]{64}$/, 'expected a 32-byte hash (hex or base64)'));
/** A get method's argument as TonClient serialises it. */
const stackEntry = z.union([
  z
    .tuple([
      z.literal('num'),
      z.union([z.string().regex(/^-?(0x[0-9a-f]+|[0-9]+)$/i, 'expected an integer'), z.number().int()]),
    ])
    .transform(([, value]): TupleItem => {
      const text = String(value);
      const negative = text.startsWith('-');
      const magnitude = BigInt(negative ? text.slice(1) : text);
      return { type: 'int', value: negative ? -magnitude : magnitude };
    }),
  z.tuple([z.enum(['tvm.Cell', 'tvm.Slice', 'tvm.Builder']), boc]).transform(([kind, cell]): TupleItem => {
    const type = kind === 'tvm.Cell' ? 'cell' : kind === 'tvm.Slice' ? 'slice' : 'builder';
    return { type, cell };
  }),
]);

const Request = z.object({
  jsonrpc: z.literal('2.0').optional(),
  id: z.union([z.string(), z.number()]).optional(),
  method: z.string(),
  params: z.unknown().optional(),
});

const Params = {
  getAddressInformation: z.object({ address }),
  getAddressBalance: z.object({ address }),
  getAddressState: z.object({ address }),
  runGetMethod: z.object({
    address,
    method: z.union([z.string().min(1), z.number().int()]),
    stack: z.array(stackEntry).default([]),
  }),
  sendBoc: z.object({ boc }),
  sendBocReturnHash: z.object({ boc }),
  getTransactions: z.object({
    address,
    limit: z.coerce.number().int().positive().max(MAX_TRANSACTIONS).default(10),
    lt: decimal.optional(),
    hash: hash.optional(),
    to_lt: decimal.optional(),
    archival: z.boolean().optional(),
  }),
};
type Method = keyof typeof Params;

/** An error toncenter would answer with `ok: false`: an HTTP status and a message. */
class RpcError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const base64 = (cell: Cell) => cell.toBoc().toString('base64');
const cellOf = (store: (builder: Builder) => void) => beginCell().store(store).endCell();
/** The sandbox makes no blocks: a block id names the masterchain with a zero seqno and hashes. */
const NO_BLOCK = {
  '@type': 'ton.blockIdExt',
  workchain: -1,
  shard: '-9223372036854775808',
  seqno: 0,
  root_hash: Buffer.alloc(32).toString('base64'),
  file_hash: Buffer.alloc(32).toString('base64'),
};

/** A stack entry as toncenter renders it (numbers in hex; tuples and lists as `tvm.stackEntry*` objects). */
function renderStackItem(item: TupleItem): unknown[] {
  switch (item.type) {
    case 'int':
      return ['num', item.value < 0n ? `-0x${(-item.value).toString(16)}` : `0x${item.value.toString(16)}`];
    case 'null':
      return ['null'];
    case 'cell':
    case 'slice':
    case 'builder':
      return [item.type, { bytes: base64(item.cell) }];
    case 'tuple':
      return ['tuple', { '@type': 'tvm.tuple', elements: item.items.map(renderTupleElement) }];
    default:
      throw new RpcError(500, `a get method returned a ${item.type}, which this endpoint cannot render`);
  }
}

function renderTupleElement(item: TupleItem): unknown {
  switch (item.type) {
    case 'int':
      return {
        '@type': 'tvm.stackEntryNumber',
        number: { '@type': 'tvm.numberDecimal', number: item.value.toString() },
      };
    case 'cell':
    case 'builder':
      return { '@type': 'tvm.stackEntryCell', cell: { '@type': 'tvm.cell', bytes: base64(item.cell) } };
    case 'slice':
      return { '@type': 'tvm.stackEntrySlice', slice: { '@type': 'tvm.slice', bytes: base64(item.cell) } };
    case 'tuple':
      return {
        '@type': 'tvm.stackEntryTuple',
        tuple: { '@type': 'tvm.tuple', elements: item.items.map(renderTupleElement) },
      };
    default:
      throw new RpcError(
        500,
        `a get method returned a ${item.type} inside a tuple, which this endpoint cannot render`,
      );
  }
}

function renderMessage(message: Message): unknown {
  const { info } = message;
  const internal = info.type === 'internal';
  return {
    '@type': 'raw.message',
    source: info.type === 'external-in' ? '' : (info.src?.toString() ?? ''),
    destination: info.type === 'external-out' ? '' : info.dest.toString(),
    value: internal ? info.value.coins.toString() : '0',
    extra_currencies: [],
    fwd_fee: internal ? info.forwardFee.toString() : '0',
    ihr_fee: internal ? info.ihrFee.toString() : '0',
    created_lt: info.type === 'external-in' ? '0' : info.createdLt.toString(),
    body_hash: message.body.hash().toString('base64'),
    msg_data: {
      '@type': 'msg.dataRaw',
      body: base64(message.body),
      init_state: message.init ? base64(cellOf(storeStateInit(message.init))) : '',
    },
    message: '',
  };
}

function renderTransaction(account: Address, tx: Transaction): unknown {
  const d = tx.description;
  const storageFee = d.type === 'generic' ? (d.storagePhase?.storageFeesCollected ?? 0n) : 0n;
  return {
    '@type': 'raw.transaction',
    address: { '@type': 'accountAddress', account_address: account.toString() },
    utime: tx.now,
    data: base64(cellOf(storeTransaction(tx))),
    transaction_id: {
      '@type': 'internal.transactionId',
      lt: tx.lt.toString(),
      hash: tx.hash().toString('base64'),
    },
    fee: tx.totalFees.coins.toString(),
    storage_fee: storageFee.toString(),
    other_fee: (tx.totalFees.coins - storageFee).toString(),
    ...(tx.inMessage ? { in_msg: renderMessage(tx.inMessage) } : {}),
    out_msgs: [...tx.outMessages.values()].map(renderMessage),
  };
}

async function accountState(chain: SandboxChain, at: Address) {
  const contract = await chain.blockchain.getContract(at);
  const state = contract.accountState;
  const active = state?.type === 'active' ? state.state : undefined;
  return {
    balance: contract.balance,
    state: active ? 'active' : state?.type === 'frozen' ? 'frozen' : 'uninitialized',
    code: active?.code ? base64(active.code) : '',
    data: active?.data ? base64(active.data) : '',
    lastLt: contract.lastTransactionLt,
    lastHash: Buffer.from(contract.lastTransactionHash.toString(16).padStart(64, '0'), 'hex'),
  };
}

/** Newest first from `lt`/`hash` (inclusive) or from the latest, down to `to_lt` (exclusive), as toncenter pages. */
function transactionsPage(chain: SandboxChain, p: z.output<(typeof Params)['getTransactions']>): unknown[] {
  const newestFirst = [...chain.history(p.address)].reverse();
  let start = 0;
  if (p.lt !== undefined) {
    const lt = BigInt(p.lt);
    start = newestFirst.findIndex(
      (tx) => tx.lt === lt && (p.hash === undefined || tx.hash().toString('hex') === p.hash),
    );
    if (start < 0)
      throw new RpcError(404, `transaction ${p.lt} of ${p.address.toString()} is not known here`);
  }
  const toLt = p.to_lt === undefined ? 0n : BigInt(p.to_lt);
  return newestFirst
    .slice(start)
    .filter((tx) => tx.lt > toLt)
    .slice(0, p.limit)
    .map((tx) => renderTransaction(p.address, tx));
}

async function handle(chain: SandboxChain, method: Method, params: unknown): Promise<unknown> {
  switch (method) {
    case 'getAddressInformation': {
      const { address: at } = Params.getAddressInformation.parse(params);
      const s = await accountState(chain, at);
      return {
        '@type': 'raw.fullAccountState',
        balance: s.balance.toString(),
        extra_currencies: [],
        code: s.code,
        data: s.data,
        last_transaction_id: {
          '@type': 'internal.transactionId',
          lt: s.lastLt.toString(),
          hash: s.lastHash.toString('base64'),
        },
        block_id: NO_BLOCK,
        frozen_hash: '',
        sync_utime: await chain.now(),
        state: s.state,
      };
    }
    case 'getAddressBalance':
      return (await accountState(chain, Params.getAddressBalance.parse(params).address)).balance.toString();
    case 'getAddressState':
      return (await accountState(chain, Params.getAddressState.parse(params).address)).state;
    case 'runGetMethod': {
      const p = Params.runGetMethod.parse(params);
      if ((await accountState(chain, p.address)).state !== 'active')
        throw new RpcError(
          500,
          `cannot run get methods on ${p.address.toString()}: the account is not active`,
        );
      let exitCode: number;
      let gasUsed: bigint;
      let stack: TupleItem[] = [];
      try {
        const result = await chain.blockchain.runGetMethod(p.address, p.method, p.stack);
        ({ exitCode, gasUsed, stack } = result);
      } catch (error) {
        // a failing get method is a result with its exit code, as on toncenter, not a transport error
        if (!(error instanceof GetMethodError)) throw error;
        ({ exitCode, gasUsed } = error);
      }
      return {
        '@type': 'smc.runResult',
        gas_used: Number(gasUsed),
        stack: stack.map(renderStackItem),
        exit_code: exitCode,
      };
    }
    case 'sendBoc':
    case 'sendBocReturnHash': {
      const { boc: message } = Params[method].parse(params);
      // as on a real network, only external messages come from outside: an internal one would name any sender
      let inbound: Message;
      try {
        inbound = loadMessage(message.beginParse());
      } catch {
        throw new RpcError(422, 'the BOC is not a message');
      }
      if (inbound.info.type !== 'external-in')
        throw new RpcError(422, `only external messages are accepted, not ${inbound.info.type} ones`);
      try {
        await chain.sendExternal(message);
      } catch (error) {
        throw new RpcError(500, `the message was not accepted: ${(error as Error).message}`);
      }
      return method === 'sendBoc'
        ? { '@type': 'ok' }
        : { '@type': 'raw.extMessageInfo', hash: message.hash().toString('base64') };
    }
    case 'getTransactions':
      return transactionsPage(chain, Params.getTransactions.parse(params));
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new RpcError(413, `request larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(JSON.stringify({ ...body, jsonrpc: '2.0' }));
}

export interface ChainRpcServer {
  /** The endpoint for TonClient, e.g. http://127.0.0.1:8482/api/v2/jsonRPC */
  url: string;
  close(): Promise<void>;
}

/** Serves `chain` on loopback (port 0 picks a free one) until `close()`. */
export async function serveChainRpc(chain: SandboxChain, options: { port: number }): Promise<ChainRpcServer> {
  const server = createServer(async (req, res) => {
    let id: string | number | undefined;
    try {
      if (req.url !== CHAIN_RPC_PATH) throw new RpcError(404, `only ${CHAIN_RPC_PATH} is served here`);
      if (req.method !== 'POST') throw new RpcError(405, 'JSON-RPC requests are POSTs');
      // a JSON content type keeps browsers' cross-origin "simple" requests out (they would need a preflight)
      if (!req.headers['content-type']?.startsWith('application/json'))
        throw new RpcError(415, 'expected content-type: application/json');
      let json: unknown;
      try {
        json = JSON.parse(await readBody(req));
      } catch (error) {
        throw error instanceof RpcError ? error : new RpcError(400, 'the body is not JSON');
      }
      const request = Request.safeParse(json);
      if (!request.success)
        throw new RpcError(422, 'expected a JSON-RPC request: {"method", "params", "id"}');
      id = request.data.id;
      const { method, params } = request.data;
      if (!Object.hasOwn(Params, method)) throw new RpcError(422, `method ${method} is not served here`);
      const result = await handle(chain, method as Method, params ?? {});
      reply(res, 200, { ok: true, result, id });
    } catch (error) {
      const status = error instanceof RpcError ? error.status : error instanceof z.ZodError ? 422 : 500;
      const message = error instanceof z.ZodError ? z.prettifyError(error) : (error as Error).message;
      reply(res, status, { ok: false, error: message, code: status, id });
    }
  });
  // Node's HTTP clients keep idle sockets for 5 s, the server's default too: a client reusing a socket as the
  // server drops it gets "socket hang up". Idle sockets are the client's to close.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${CHAIN_RPC_PATH}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
