import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sourcesDir } from '../src/compile.js';
import { ExitCode, GasBound, MIN_STORAGE_RESERVE, Op } from '../wrappers/constants.js';

const source = (name: string) => readFileSync(`${sourcesDir}/common/${name}`, 'utf-8');
const camel = (snake: string) => snake.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

describe('TypeScript constants mirror the Tolk sources', () => {
  it('opcodes', () => {
    const ops = [...source('messages.tolk').matchAll(/struct \((0x[0-9a-fA-F]+)\) (\w+)/g)].map(
      ([, code, name]) => [`${name?.[0]?.toLowerCase()}${name?.slice(1)}`, Number(code)],
    );
    expect(Object.fromEntries(ops)).toEqual(Op);
  });

  it('exit codes', () => {
    const codes = [...source('errors.tolk').matchAll(/const ERR_(\w+) = (\w+)/g)].map(([, name, value]) => [
      camel(name ?? ''),
      Number(value),
    ]);
    expect(Object.fromEntries(codes)).toEqual(ExitCode);
  });

  it('gas bounds and the storage reserve', () => {
    const fees = source('fees.tolk');
    const gas = [...fees.matchAll(/const GAS_(\w+) = (\d+)/g)].map(([, name, value]) => [
      camel(name ?? ''),
      BigInt(value ?? 0),
    ]);
    expect(Object.fromEntries(gas)).toEqual(GasBound);
    expect(fees).toContain(`const MIN_STORAGE_RESERVE = ton("${Number(MIN_STORAGE_RESERVE) / 1e9}")`);
  });
});
