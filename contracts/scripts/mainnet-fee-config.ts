// `npx tsx scripts/mainnet-fee-config.ts`: writes fixtures/mainnet-fee-config-2026-06.boc.b64, the config
// mainnetFeeConfig() returns, from @ton/sandbox's defaultConfig. Rerun after upgrading @ton/sandbox.
import { writeFileSync } from 'node:fs';
import { Cell } from '@ton/core';
import { defaultConfig } from '@ton/sandbox';
import { mainnetFeeConfigPath, withMainnetFeeParams } from '../src/fees.js';

const config = withMainnetFeeParams(Cell.fromBase64(defaultConfig));
writeFileSync(mainnetFeeConfigPath, `${config.toBoc().toString('base64')}\n`);
console.log(`config ${config.hash().toString('hex')} written to ${mainnetFeeConfigPath.pathname}`);
