import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findSpiceDbBinary, freePort, waitForPort } from '../../support/spicedb-server.js';

/**
 * Real server processes that the reliability suites start, kill and restart: `spicedb serve`
 * on a chosen datastore, and a PostgreSQL instance of the suite's own (never the machine's
 * shared one, which other engineers use).
 */

export const inCi = () =>
  process.env.CI === 'true' || process.env.SPICEDB_TEST_REQUIRE_SERVER === 'true';

/** The pinned binary, or why there is none (in CI a missing binary fails the suite). */
export function requireSpiceDbBinary(): string | undefined {
  const binary = findSpiceDbBinary();
  if (binary === undefined && inCi()) {
    throw new Error('CI needs the pinned spicedb binary: run scripts/ensure-spicedb.sh');
  }
  return binary;
}

export interface SpiceDbProcess {
  endpoint: string;
  presharedKey: string;
  readonly pid: number | undefined;
  /** Sends a signal (SIGKILL to crash it, SIGSTOP/SIGCONT to freeze and thaw it). */
  signal(signal: NodeJS.Signals): void;
  /** Kills it and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same arguments. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  logTail(): string;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** `spicedb serve` with `extraArgs` (datastore flags) on a free loopback port. */
export async function startSpiceDbServe(
  binary: string,
  extraArgs: string[],
): Promise<SpiceDbProcess> {
  const port = await freePort();
  const presharedKey = `reliability-${randomUUID()}`;
  let child: ChildProcess | undefined;
  let log = '';
  const launch = async () => {
    const started = spawn(
      binary,
      [
        'serve',
        '--grpc-preshared-key',
        presharedKey,
        '--grpc-addr',
        `127.0.0.1:${port}`,
        '--http-enabled=false',
        '--metrics-enabled=false',
        '--dispatch-cluster-enabled=false',
        '--telemetry-endpoint=',
        '--skip-release-check',
        '--log-level',
        'warn',
        ...extraArgs,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    started.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-8000);
    });
    child = started;
    try {
      await waitForPort(port, 30_000, started);
    } catch (error) {
      started.kill('SIGKILL');
      throw new Error(`spicedb serve did not start: ${String(error)}\n${log}`, { cause: error });
    }
  };
  await launch();
  const kill = async () => {
    if (child === undefined) return;
    const current = child;
    current.kill('SIGCONT');
    current.kill('SIGKILL');
    await waitForExit(current);
  };
  return {
    endpoint: `127.0.0.1:${port}`,
    presharedKey,
    get pid() {
      return child?.pid;
    },
    signal: (signal) => child?.kill(signal),
    kill,
    restart: async () => {
      await kill();
      await launch();
    },
    stop: kill,
    logTail: () => log,
  };
}

/** `spicedb datastore migrate head` for a PostgreSQL connection string. */
export function migrateSpiceDb(binary: string, connUri: string): void {
  const result = spawnSync(
    binary,
    [
      'datastore',
      'migrate',
      'head',
      '--datastore-engine',
      'postgres',
      '--datastore-conn-uri',
      connUri,
      '--log-level',
      'warn',
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (result.status !== 0) {
    throw new Error(`spicedb migrate failed (${result.status}): ${result.stderr}`);
  }
}

/** The PostgreSQL server binaries: PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
export function findPostgresBin(): string | undefined {
  const explicit = process.env.PG_BIN;
  if (explicit && existsSync(path.join(explicit, 'pg_ctl'))) return explicit;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(root, versions[0], 'bin');
}

export interface PostgresProcess {
  port: number;
  connUri(database: string): string;
  /** Crashes it: `pg_ctl stop -m immediate` (no clean shutdown, recovery on the next start). */
  crash(): void;
  start(): void;
  psql(database: string, sql: string): string;
  stop(): void;
}

/**
 * A PostgreSQL instance of its own in a temporary directory, on a free port, trust auth.
 * As root it runs as the `postgres` OS user (PostgreSQL refuses to run as root).
 */
export async function startOwnPostgres(bin: string): Promise<PostgresProcess> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authz-reliability-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(dir, Number(pw.stdout.trim()), Number(gid.stdout.trim()));
  }
  const run = (command: string, args: string[], timeout = 120_000) => {
    const quoted = [path.join(bin, command), ...args]
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    const result = asRoot
      ? spawnSync('su', ['postgres', '-s', '/bin/sh', '-c', quoted], { encoding: 'utf8', timeout })
      : spawnSync(path.join(bin, command), args, { encoding: 'utf8', timeout });
    if (result.status !== 0) {
      throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}${result.stdout}`);
    }
    return result.stdout;
  };
  const data = path.join(dir, 'data');
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const start = () => {
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      path.join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on`,
      'start',
    ]);
  };
  start();
  await waitForPort(port, 30_000);
  return {
    port,
    connUri: (database) => `postgres://postgres@127.0.0.1:${port}/${database}?sslmode=disable`,
    crash: () => {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    },
    start,
    psql: (database, sql) =>
      run('psql', [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        database,
        '-Atc',
        sql,
      ]),
    stop: () => {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
