import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findSpiceDbBinary, freePort, waitForPort } from '../../test/support/spicedb-server.js';

/** A SpiceDB server the benchmark started, and how to stop it (and drop what it created). */
export interface BenchSpiceDb {
  name: string;
  endpoint: string;
  token: string;
  stop(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The pinned binary, built with scripts/ensure-spicedb.sh when missing. */
export function spicedbBinary(): string {
  const found = findSpiceDbBinary();
  if (found) return found;
  const built = spawnSync('bash', [path.join(repoRoot, 'scripts/ensure-spicedb.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const binary = built.stdout.trim().split('\n').at(-1);
  if (built.status !== 0 || !binary)
    throw new Error('no SpiceDB binary: run npm run spicedb:install');
  return binary;
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function launch(binary: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  try {
    await waitForPort(port, 60_000, child);
  } catch (error) {
    await stopChild(child);
    throw new Error(`spicedb ${args[0]} did not start: ${String(error)}\n${stderr}`, {
      cause: error,
    });
  }
  return child;
}

const COMMON = ['--http-enabled=false', '--skip-release-check', '--log-level', 'warn'];

/** `spicedb serve-testing`: in-memory, a datastore per preshared key. */
export async function startServeTesting(binary: string): Promise<BenchSpiceDb> {
  const port = await freePort();
  const child = await launch(
    binary,
    [
      'serve-testing',
      '--grpc-addr',
      `127.0.0.1:${port}`,
      '--readonly-grpc-enabled=false',
      ...COMMON,
    ],
    port,
  );
  return {
    name: 'serve-testing (memory)',
    endpoint: `127.0.0.1:${port}`,
    token: `bench-${randomBytes(6).toString('hex')}`,
    stop: () => stopChild(child),
  };
}

function psql(url: string, sql: string): void {
  const result = spawnSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-tAc', sql], {
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`psql failed (${sql}): ${result.stderr || result.error?.message || ''}`);
  }
}

/**
 * `spicedb serve` on a PostgreSQL database of its own (created, migrated, and dropped on stop).
 * BENCH_PG_URL names the server (default postgres://postgres@127.0.0.1:5432).
 */
export async function startServeOnPostgres(binary: string): Promise<BenchSpiceDb> {
  const server = (process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432').replace(
    /\/+$/,
    '',
  );
  const database = `spicedb_bench_${randomBytes(5).toString('hex')}`;
  psql(`${server}/postgres`, `CREATE DATABASE ${database}`);
  const uri = `${server}/${database}?sslmode=disable`;
  const drop = () => psql(`${server}/postgres`, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  try {
    const migrated = spawnSync(
      binary,
      [
        'datastore',
        'migrate',
        'head',
        '--datastore-engine',
        'postgres',
        '--datastore-conn-uri',
        uri,
      ],
      { encoding: 'utf8' },
    );
    if (migrated.status !== 0) throw new Error(`migration failed: ${migrated.stderr}`);
    const port = await freePort();
    const token = `bench-${randomBytes(6).toString('hex')}`;
    const child = await launch(
      binary,
      [
        'serve',
        '--grpc-preshared-key',
        token,
        '--datastore-engine',
        'postgres',
        '--datastore-conn-uri',
        uri,
        '--grpc-addr',
        `127.0.0.1:${port}`,
        '--metrics-addr',
        '127.0.0.1:0',
        '--telemetry-endpoint=',
        ...COMMON,
      ],
      port,
    );
    return {
      name: 'serve on PostgreSQL',
      endpoint: `127.0.0.1:${port}`,
      token,
      stop: async () => {
        await stopChild(child);
        drop();
      },
    };
  } catch (error) {
    drop();
    throw error;
  }
}
