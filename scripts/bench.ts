// `npm run bench`: every package's benchmark, one after another, and their output written into
// BENCHMARKS.md (between the bench markers) with the machine they ran on.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

const PACKAGES = [
  '@cocoon/shared',
  '@cocoon/contracts',
  '@cocoon/worker',
  '@cocoon/proxy',
  '@cocoon/bot',
  '@cocoon/cli',
];
const root = new URL('../', import.meta.url);

const sections: string[] = [];
for (const name of PACKAGES) {
  console.log(`\n=== ${name}`);
  const started = Date.now();
  const run = spawnSync('npm', ['run', 'bench', '--silent', '-w', name], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 10 * 60_000,
  });
  process.stdout.write(run.stdout);
  if (run.status !== 0) {
    console.error(`${name}: benchmark failed (exit ${run.status})`);
    process.exit(1);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  sections.push(`### ${name} (${seconds} s)\n\n\`\`\`text\n${run.stdout.trim()}\n\`\`\``);
}

const gpu = (() => {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'none';
  }
})();
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, GPU: ${gpu}, Node ${process.version}`;
const generated = [`Latest run: ${new Date().toISOString()} on ${machine}.`, ...sections].join('\n\n');

const path = new URL('BENCHMARKS.md', root);
const text = readFileSync(path, 'utf8');
const section = /(<!-- bench:start[^\n]*-->\n)[\s\S]*?(<!-- bench:end -->)/;
if (!section.test(text)) throw new Error('BENCHMARKS.md has no bench:start / bench:end markers');
writeFileSync(
  path,
  text.replace(section, (_, start: string, end: string) => `${start}${generated}\n${end}`),
);
console.log('\nBENCHMARKS.md updated.');
