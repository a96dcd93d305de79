// `npm run test:postgres`: the proxy, bot and cli suites once more, on a real Postgres server (a throwaway one
// from Debian's postgresql binaries) instead of embedded PGlite. Each test file's store gets a fresh database
// on it through COCOON_TEST_DATABASE_URL (shared/test/support/test-store.ts). The shared package is left out:
// its store suites already run on both backends. Exits with the tests' exit code; the server always stops.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { startPostgres } from '../shared/test/support/postgres.js';

const PACKAGES = ['@cocoon/proxy', '@cocoon/bot', '@cocoon/cli'];
/** Far above a full run; a hung suite is killed rather than waited on forever. */
const RUN_TIMEOUT_MS = 60 * 60_000;

const server = await startPostgres();
let exitCode = 1;
try {
  const tests = spawn(
    'npx',
    [
      'turbo',
      'run',
      'test',
      '--concurrency=1',
      ...PACKAGES.map((name) => `--filter=${name}`),
      '--output-logs=errors-only',
      // turbo's default strict mode hands tasks only the variables turbo.json declares
      '--env-mode=loose',
    ],
    {
      cwd: new URL('../', import.meta.url),
      stdio: 'inherit',
      env: { ...process.env, COCOON_TEST_DATABASE_URL: server.url },
      timeout: RUN_TIMEOUT_MS,
    },
  );
  // Ctrl-C reaches turbo too; staying alive until it exits lets `finally` stop the server.
  const forward = (signal: NodeJS.Signals) => tests.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  const [code] = (await once(tests, 'exit')) as [number | null, NodeJS.Signals | null];
  exitCode = code ?? 1;
} finally {
  await server.stop();
}
process.exit(exitCode);
