// `npm run bench`: every package's benchmark, one after another (the proxy's twice: on its embedded store and
// on a throwaway Postgres server), and their output written into BENCHMARKS.md (between the bench markers)
// with the machine they ran on.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

import { startPostgres } from '../shared/test/support/postgres.js';

interface BenchRun {
  name: string;
  /** What the section is called, when a package runs twice. */
  label?: string;
  /** A throwaway Postgres server (Debian's binaries) handed to the bench as DATABASE_URL. */
  postgres?: boolean;
}

const RUNS: BenchRun[] = [
  { name: '@cocoon/shared' },
  { name: '@cocoon/contracts' },
  { name: '@cocoon/worker' },
  { name: '@cocoon/proxy', label: '@cocoon/proxy, embedded PGlite' },
  // the store a proxy serving many clients uses (several proxies share one), on the same cores
  { name: '@cocoon/proxy', label: '@cocoon/proxy, Postgres server', postgres: true },
  { name: '@cocoon/bot' },
  { name: '@cocoon/cli' },
];
const root = new URL('../', import.meta.url);

const sections: string[] = [];
for (const { name, label = name, postgres } of RUNS) {
  console.log(`\n=== ${label}`);
  let server: Awaited<ReturnType<typeof startPostgres>> | undefined;
  if (postgres) {
    try {
      server = await startPostgres();
    } catch (error) {
      const why = `skipped: no Postgres server could be started (${(error as Error).message})`;
      console.log(why);
      sections.push(`### ${label}\n\n${why}`);
      continue;
    }
  }
  const started = Date.now();
  const run = spawnSync('npm', ['run', 'bench', '--silent', '-w', name], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 10 * 60_000,
    env: server ? { ...process.env, DATABASE_URL: server.url } : process.env,
  });
  await server?.stop();
  process.stdout.write(run.stdout);
  if (run.status !== 0) {
    console.error(`${label}: benchmark failed (exit ${run.status})`);
    process.exit(1);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  sections.push(`### ${label} (${seconds} s)\n\n\`\`\`text\n${run.stdout.trim()}\n\`\`\``);
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
