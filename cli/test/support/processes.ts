// Runs the repository's entry points (`npm start`, the `cocoon` CLI) as real processes, as a user would.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export const repoRoot = new URL('../../../', import.meta.url).pathname;
const tsx = join(repoRoot, 'node_modules/.bin/tsx');

export interface ProcessOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** Starts `script` (relative to the repository) under tsx; `output()` is its stdout and stderr so far. */
export function spawnScript(
  script: string,
  args: string[],
  options: ProcessOptions,
): { child: ChildProcess; output: () => string } {
  const child = spawn(tsx, [join(repoRoot, script), ...args], {
    ...options,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (data: unknown) => {
    output += String(data);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  return { child, output: () => output };
}

/** Runs the `cocoon` CLI to its end: its exit code and everything it printed. */
export async function runCocoon(
  args: string[],
  options: ProcessOptions,
  onSpawn?: (child: ChildProcess) => void,
): Promise<{ code: number | null; output: string }> {
  const { child, output } = spawnScript('cli/src/cocoon.ts', args, options);
  onSpawn?.(child);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output: output() };
}
