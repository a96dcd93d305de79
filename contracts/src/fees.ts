// Node-only (reads fixture files): TON mainnet fee parameters of June 2026 for @ton/sandbox 0.41.
import { readFileSync } from 'node:fs';
import { beginCell, Cell, Dictionary } from '@ton/core';
import { GasBound } from '../wrappers/constants.js';

const feeParamsPath = new URL('../fixtures/fee-params-2026-06.boc.b64', import.meta.url);
/** withMainnetFeeParams(@ton/sandbox 0.41's defaultConfig), written by scripts/mainnet-fee-config.ts. */
export const mainnetFeeConfigPath = new URL(
  '../fixtures/mainnet-fee-config-2026-06.boc.b64',
  import.meta.url,
);

const readBoc = (path: URL) => Cell.fromBase64(readFileSync(path, 'utf-8').trim());

/**
 * `config` with config params 18, 20, 21, 24 and 25 replaced by mainnet's of June 2026 (gas 66.67 nanoTON
 * per unit instead of sandbox's 400), so fees read as mainnet charges them.
 */
export function withMainnetFeeParams(config: Cell): Cell {
  const current = Dictionary.loadDirect(Dictionary.Keys.Int(32), Dictionary.Values.Cell(), config);
  const feeParams = Dictionary.loadDirect(
    Dictionary.Keys.Int(32),
    Dictionary.Values.Cell(),
    readBoc(feeParamsPath),
  );
  for (const [key, value] of feeParams) current.set(key, value);
  return beginCell().storeDictDirect(current).endCell();
}

/**
 * Sandbox 0.41's own config with mainnet's fee params of June 2026 (see withMainnetFeeParams). Read from a
 * fixture rather than computed from @ton/sandbox's defaultConfig, so that roles on testnet or mainnet do not
 * load the TVM emulator; tests/lazy-load.spec.ts recomputes it so the fixture cannot drift.
 */
export function mainnetFeeConfig(): Cell {
  return readBoc(mainnetFeeConfigPath);
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
