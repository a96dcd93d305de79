// Node-only: starts a throw-away PostgreSQL server for tests (initdb + pg_ctl into a temp folder).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Every wait is bounded: initdb, start and stop each get this long. */
const STEP_TIMEOUT_S = 60;

export type TestPostgres = {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust auth, loopback only). */
  url: string;
  /** Stops the server and deletes its folder; safe to call twice. */
  stop(): Promise<void>;
  /** Stops the server (fast shutdown: connections are cut) and keeps its data: a database outage. */
  pause(): Promise<void>;
  /** Starts the paused server again on the same port and data. */
  resume(): Promise<void>;
};

/**
 * Starts a fresh PostgreSQL server on a free loopback port. Needs the server binaries
 * (`apt-get install -y postgresql`). initdb refuses to run as root, so under root the server runs as the
 * `postgres` system user (via runuser). Always call stop() (in afterAll).
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = await findServerBinaries();
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'cocoon-test-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const runAsServerUser = (program: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(bin, program), ...args], {
          timeout: STEP_TIMEOUT_S * 1000,
        })
      : run(join(bin, program), args, { timeout: STEP_TIMEOUT_S * 1000 });

  let started = false;
  const stopArgs = ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', String(STEP_TIMEOUT_S)];
  const stop = async () => {
    if (started) {
      started = false;
      await runAsServerUser('pg_ctl', stopArgs);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    if (asRoot) await chownToServerUser(dir);
    await runAsServerUser('initdb', [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--no-sync',
    ]);
    const port = await freeLoopbackPort();
    const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
    const startServer = async () => {
      started = true;
      await runAsServerUser('pg_ctl', [
        'start',
        '-D',
        dataDir,
        '-l',
        logFile,
        '-o',
        serverOptions,
        '-w',
        '-t',
        String(STEP_TIMEOUT_S),
      ]);
    };
    await startServer();
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      stop,
      async pause() {
        started = false;
        await runAsServerUser('pg_ctl', stopArgs);
      },
      resume: startServer,
    };
  } catch (error) {
    const serverLog = await readFile(logFile, 'utf8').catch(() => '');
    await stop().catch(() => {});
    throw new Error(`could not start a test Postgres server: ${(error as Error).message}\n${serverLog}`, {
      cause: error,
    });
  }
}

async function findServerBinaries(): Promise<string> {
  const candidates: string[] = [];
  try {
    candidates.push((await run('pg_config', ['--bindir'], { timeout: 10_000 })).stdout.trim());
  } catch {
    // pg_config is absent or belongs to a client-only install; fall back to Debian's layout.
  }
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = (await readdir(debianRoot)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => join(debianRoot, version, 'bin')));
  }
  const bin = candidates.find((dir) =>
    ['initdb', 'pg_ctl', 'postgres'].every((p) => existsSync(join(dir, p))),
  );
  if (bin === undefined) {
    throw new Error(
      `PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in ${candidates.join(', ') || 'pg_config --bindir or /usr/lib/postgresql/*/bin'}; ` +
        'install them with: apt-get install -y postgresql',
    );
  }
  return bin;
}

async function chownToServerUser(dir: string): Promise<void> {
  let ids: { stdout: string };
  try {
    ids = await run('id', ['postgres'], { timeout: 10_000 });
  } catch {
    throw new Error(
      'running as root needs the `postgres` system user (apt-get install -y postgresql creates it)',
    );
  }
  const uid = Number(/uid=(\d+)/.exec(ids.stdout)?.[1]);
  const gid = Number(/gid=(\d+)/.exec(ids.stdout)?.[1]);
  await chown(dir, uid, gid);
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}
