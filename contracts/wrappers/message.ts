import { type Builder, beginCell, type Cell, type ContractProvider, type Sender, SendMode } from '@ton/core';

/** Every Cocoon message body starts with its op and a query id (echoed in replies and bounces). */
export const opBody = (op: number, queryId?: bigint): Builder =>
  beginCell()
    .storeUint(op, 32)
    .storeUint(queryId ?? 0n, 64);

/** Sends a body with `value` for the contract; the sender pays forwarding on top, as every handler expects. */
export const sendBody = (provider: ContractProvider, via: Sender, value: bigint, body: Cell): Promise<void> =>
  provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body });
