/**
 * A PostgreSQL instance of a suite's own (never the machine's shared one, which others use), and
 * streaming replicas of it: initdb in a temporary directory, a free loopback port, trust auth.
 * PostgreSQL refuses to run as root, so as root every command runs as the `postgres` OS user.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../src/spicedb/loopback.js';

/** PG_BIN, else the newest /usr/lib/postgresql/N/bin; undefined when neither has pg_ctl. */
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

/** The server binaries, or an error naming what to install: suites fail, never skip. */
export function requirePostgresBin(): string {
  const bin = findPostgresBin();
  if (bin === undefined) {
    throw new Error('PostgreSQL server binaries are missing (/usr/lib/postgresql/N/bin or PG_BIN)');
  }
  return bin;
}

export interface PostgresProcess {
  port: number;
  connUri(database: string): string;
  /** `pg_ctl stop -m immediate`: no clean shutdown, crash recovery on the next start. */
  crash(): void;
  start(): void;
  psql(database: string, sql: string): string;
  /**
   * A streaming replica of this instance (`pg_basebackup -R`) on a port of its own; `applyDelay`
   * (`recovery_min_apply_delay`, e.g. `2s`) makes it lag behind by that much, on purpose.
   */
  startReplica(options?: { applyDelay?: string }): Promise<PostgresProcess>;
  /** Waits until `sql` (on `database`) answers `t`, e.g. a replica has replayed something. */
  waitFor(database: string, sql: string, timeoutMs?: number): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): void;
}

interface Runner {
  run(command: string, args: string[], timeout?: number): string;
  ownedDir(prefix: string): string;
}

function runner(bin: string): Runner {
  const asRoot = process.getuid?.() === 0;
  const id = (flag: string) =>
    Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return {
    run: (command, args, timeout = 120_000) => {
      const file = path.join(bin, command);
      const result = asRoot
        ? spawnSync('runuser', ['-u', 'postgres', '--', file, ...args], {
            encoding: 'utf8',
            timeout,
          })
        : spawnSync(file, args, { encoding: 'utf8', timeout });
      if (result.status !== 0) {
        throw new Error(
          `${command} ${args.join(' ')} failed: ${result.stderr}${result.stdout}${result.error?.message ?? ''}`,
        );
      }
      return result.stdout;
    },
    ownedDir: (prefix) => {
      const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
      if (asRoot) chownSync(dir, id('-u'), id('-g'));
      return dir;
    },
  };
}

async function serve(
  bin: string,
  r: Runner,
  dir: string,
  port: number,
  settings: string[],
): Promise<PostgresProcess> {
  const data = path.join(dir, 'data');
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=on',
    '-c max_connections=300',
    // SpiceDB's Watch API (authz.watch) needs commit timestamps.
    '-c track_commit_timestamp=on',
    ...settings,
  ].join(' ');
  const start = () => {
    r.run('pg_ctl', [
      '-D',
      data,
      '-l',
      path.join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      options,
      'start',
    ]);
  };
  start();
  await waitForPort(port, 30_000);
  const self: PostgresProcess = {
    port,
    connUri: (database) => `postgres://postgres@127.0.0.1:${port}/${database}?sslmode=disable`,
    crash: () => {
      r.run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    },
    start,
    psql: (database, sql) =>
      r.run('psql', [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        database,
        '-v',
        'ON_ERROR_STOP=1',
        '-Atc',
        sql,
      ]),
    waitFor: async (database, sql, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          if (self.psql(database, sql).trim() === 't') return;
        } catch (error) {
          if (Date.now() > deadline) throw error;
        }
        if (Date.now() > deadline) throw new Error(`${sql} is still not true on port ${port}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    startReplica: async ({ applyDelay } = {}) => {
      const replicaDir = r.ownedDir('authz-pg-replica-');
      const replicaPort = await freePort();
      r.run('pg_basebackup', [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-D',
        path.join(replicaDir, 'data'),
        '-R',
        '-X',
        'stream',
        '--no-sync',
      ]);
      const delay = applyDelay === undefined ? [] : [`-c recovery_min_apply_delay=${applyDelay}`];
      return serve(bin, r, replicaDir, replicaPort, ['-c hot_standby=on', ...delay]);
    },
    stop: () => {
      try {
        r.run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}

/** A new instance: initdb, then started on a free port. */
export async function startOwnPostgres(bin = requirePostgresBin()): Promise<PostgresProcess> {
  const r = runner(bin);
  const dir = r.ownedDir('authz-pg-');
  r.run('initdb', [
    '-D',
    path.join(dir, 'data'),
    '-A',
    'trust',
    '-U',
    'postgres',
    '--no-sync',
    '-E',
    'UTF8',
  ]);
  return serve(bin, r, dir, await freePort(), []);
}
