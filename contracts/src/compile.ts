// Node-only: compiles the Tolk sources with @ton/tolk-js and caches the result under build/. The compiler
// (wasm, megabytes) is imported only when a contract must be compiled, so a role with a fresh build never loads it.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cell } from '@ton/core';
import { z } from 'zod';

export const CONTRACT_NAMES = ['root', 'client', 'worker', 'proxy'] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

export interface CompiledContract {
  name: ContractName;
  codeBoc64: string;
  codeHashHex: string;
  sourceHash: string;
  tolkVersion: string;
}

export class ContractCompileError extends Error {
  constructor(name: string, detail: string) {
    super(`Tolk compilation of ${name}.tolk failed:\n${detail}`);
    this.name = 'ContractCompileError';
  }
}

const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const sourcesDir = join(packageDir, 'contracts');
export const buildDir = join(packageDir, 'build');

function listSources(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((entry) => {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) return listSources(path);
      return entry.endsWith('.tolk') ? [path] : [];
    })
    .sort();
}

/** The installed @ton/tolk-js release, read from its package.json without loading the compiler. */
export function tolkPackageVersion(): string {
  const manifest: unknown = createRequire(import.meta.url)('@ton/tolk-js/package.json');
  return z.object({ version: z.string().min(1) }).parse(manifest).version;
}

/** Hash of every .tolk source and the compiler release: a build is fresh only when this matches. */
export async function sourcesHash(): Promise<string> {
  const hash = createHash('sha256').update(tolkPackageVersion());
  for (const path of listSources(sourcesDir)) {
    hash.update(relative(sourcesDir, path)).update('\0').update(readFileSync(path)).update('\0');
  }
  return hash.digest('hex');
}

export async function compileContract(name: ContractName, sourceHash?: string): Promise<CompiledContract> {
  const { runTolkCompiler } = await import('@ton/tolk-js');
  const result = await runTolkCompiler({
    entrypointFileName: `${name}.tolk`,
    fsReadCallback: (path) => readFileSync(join(sourcesDir, path), 'utf-8'),
  });
  if (result.status === 'error') throw new ContractCompileError(name, result.message);
  return {
    name,
    codeBoc64: result.codeBoc64,
    codeHashHex: result.codeHashHex,
    sourceHash: sourceHash ?? (await sourcesHash()),
    tolkVersion: result.tolkVersion,
  };
}

function buildPath(name: ContractName): string {
  return join(buildDir, `${name}.json`);
}

function readCached(name: ContractName): CompiledContract | undefined {
  try {
    return JSON.parse(readFileSync(buildPath(name), 'utf-8')) as CompiledContract;
  } catch {
    return undefined;
  }
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Compiles every contract whose cached build is missing or stale; returns all of them. */
export async function compileAll(): Promise<Record<ContractName, CompiledContract>> {
  const hash = await sourcesHash();
  mkdirSync(buildDir, { recursive: true });
  const out = {} as Record<ContractName, CompiledContract>;
  for (const name of CONTRACT_NAMES) {
    const cached = readCached(name);
    if (cached?.sourceHash === hash) {
      out[name] = cached;
      continue;
    }
    const compiled = await compileContract(name, hash);
    writeAtomically(buildPath(name), `${JSON.stringify(compiled, null, 2)}\n`);
    out[name] = compiled;
  }
  return out;
}

export interface ContractCodes {
  root: Cell;
  client: Cell;
  worker: Cell;
  proxy: Cell;
}

let codesPromise: Promise<ContractCodes> | undefined;

/** Code cells of all contracts, compiled on demand (cached on disk and per process). */
export function loadContractCodes(): Promise<ContractCodes> {
  codesPromise ??= compileAll().then((all) => {
    const cell = (name: ContractName) => Cell.fromBase64(all[name].codeBoc64);
    return { root: cell('root'), client: cell('client'), worker: cell('worker'), proxy: cell('proxy') };
  });
  return codesPromise;
}
