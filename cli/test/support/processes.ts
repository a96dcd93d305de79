// Runs the repository's entry points (`npm start`, the `cocoon` CLI) as real processes, as a user would.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const repoRoot = new URL('../../../', import.meta.url).pathname;
// tsx's main export: what `node --import tsx` loads
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;

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
  // node with tsx's loader, not the tsx command: one process, so a signal (SIGKILL too) reaches the script itself
  const child = spawn(process.execPath, ['--import', tsxLoader, join(repoRoot, script), ...args], {
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

/** Waits (at most `timeoutMs`) until a started process printed `text`; throws with its output if it exited first. */
export async function waitForOutput(
  started: { child: ChildProcess; output: () => string },
  text: string,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!started.output().includes(text)) {
    if (Date.now() > deadline || started.child.exitCode !== null)
      throw new Error(`no "${text}" within ${timeoutMs / 1000} s:\n${started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return started.output();
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
