// Node-only (reads the fixture file): TON mainnet fee parameters of June 2026 for @ton/sandbox 0.41.
import { readFileSync } from 'node:fs';
import { beginCell, Cell, Dictionary } from '@ton/core';
import { defaultConfig } from '@ton/sandbox';
import { GasBound } from '../wrappers/constants.js';

const feeParamsPath = new URL('../fixtures/fee-params-2026-06.boc.b64', import.meta.url);

/**
 * Sandbox 0.41's own config with config params 18, 20, 21, 24 and 25 replaced by mainnet's of
 * June 2026 (gas 66.67 nanoTON per unit instead of 400), so fees read as mainnet charges them.
 */
export function mainnetFeeConfig(): Cell {
  const current = Dictionary.loadDirect(
    Dictionary.Keys.Int(32),
    Dictionary.Values.Cell(),
    Cell.fromBase64(defaultConfig),
  );
  const feeParams = Dictionary.loadDirect(
    Dictionary.Keys.Int(32),
    Dictionary.Values.Cell(),
    Cell.fromBase64(readFileSync(feeParamsPath, 'utf-8').trim()),
  );
  for (const [key, value] of feeParams) current.set(key, value);
  return beginCell().storeDictDirect(current).endCell();
}

export interface BasechainFeePrices {
  flatGasLimit: bigint;
  flatGasPrice: bigint;
  /** nanoTON per gas unit, times 2^16. */
  gasPrice: bigint;
  lumpPrice: bigint;
  /** nanoTON per bit / per cell, times 2^16. */
  bitPrice: bigint;
  cellPrice: bigint;
}

/** Reads basechain gas (param 21) and message forwarding (param 25) prices from a config cell. */
export function basechainFeePrices(config: Cell): BasechainFeePrices {
  const params = Dictionary.loadDirect(Dictionary.Keys.Int(32), Dictionary.Values.Cell(), config);
  const gas = params.get(21)?.beginParse();
  const fwd = params.get(25)?.beginParse();
  if (!gas || !fwd) throw new Error('config lacks param 21 or 25');
  if (gas.loadUint(8) !== 0xd1) throw new Error('config param 21: expected gas_flat_pfx');
  const flatGasLimit = gas.loadUintBig(64);
  const flatGasPrice = gas.loadUintBig(64);
  if (gas.loadUint(8) !== 0xde) throw new Error('config param 21: expected gas_prices_ext');
  const gasPrice = gas.loadUintBig(64);
  if (fwd.loadUint(8) !== 0xea) throw new Error('config param 25: expected msg_forward_prices');
  return {
    flatGasLimit,
    flatGasPrice,
    gasPrice,
    lumpPrice: fwd.loadUintBig(64),
    bitPrice: fwd.loadUintBig(64),
    cellPrice: fwd.loadUintBig(64),
  };
}

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

/** What GETGASFEE returns on the basechain for `gas` units. */
export function gasFee(prices: BasechainFeePrices, gas: bigint): bigint {
  if (gas <= prices.flatGasLimit) return prices.flatGasPrice;
  return prices.flatGasPrice + ceilDiv((gas - prices.flatGasLimit) * prices.gasPrice, 65536n);
}

/** What GETFORWARDFEE returns on the basechain for a message of `bits` and `cells` beyond its root. */
export function forwardFee(prices: BasechainFeePrices, bits: bigint, cells: bigint): bigint {
  return prices.lumpPrice + ceilDiv(prices.bitPrice * bits + prices.cellPrice * cells, 65536n);
}

/**
 * What a Client contract credits for a top-up of `value` once it holds its storage reserve: the value less
 * the top-up's gas bound at the fee prices in force (client.tolk does the same on chain).
 */
export function topUpCredit(
  value: bigint,
  prices: BasechainFeePrices = basechainFeePrices(mainnetFeeConfig()),
): bigint {
  const credit = value - gasFee(prices, GasBound.topUp);
  return credit > 0n ? credit : 0n;
}
