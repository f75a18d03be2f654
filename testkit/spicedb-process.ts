/**
 * The one way tests, benchmarks and tools start a SpiceDB process:
 *
 *   const spicedb = await startSpiceDb({ datastore: 'postgres', schema });
 *   ... spicedb.endpoint, spicedb.token, spicedb.connect(), spicedb.kill(), spicedb.freeze() ...
 *   await spicedb.stop();
 *
 * `testing` is `spicedb serve-testing` (every preshared key its own in-memory datastore),
 * `memory` is `spicedb serve` on its in-memory datastore (one datastore, real revision
 * quantization), `postgres` is `spicedb serve` on a PostgreSQL database: a new one of its own
 * (created, migrated, dropped on stop) unless `datastoreUri` names one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connectRemote, type SpiceDbConnection } from '../src/spicedb/connection.js';
import { freePort, waitForPort } from '../src/spicedb/loopback.js';
import { createDatabase, migrateSpiceDb, postgresServerUrl } from './postgres.js';
import { requireSpiceDbBinary } from './spicedb-binary.js';

export type SpiceDbDatastore = 'testing' | 'memory' | 'postgres';

export interface StartSpiceDbOptions {
  datastore: SpiceDbDatastore;
  /** Default: the pinned binary (requireSpiceDbBinary). */
  binary?: string;
  /** postgres: serve this database (migrated here, never dropped) instead of a new one. */
  datastoreUri?: string;
  /** postgres: the new database's name prefix (default `spicedb`); name yours after your area. */
  databasePrefix?: string;
  /** postgres: the server of the new database (default PG_URL or 127.0.0.1:5432). */
  postgresUrl?: string;
  /** postgres: `--datastore-read-replica-conn-uri`, one per replica. */
  readReplicaUris?: string[];
  /** Preshared key (default random). */
  token?: string;
  /** gRPC listen address (default 127.0.0.1 and a free port). */
  host?: string;
  port?: number;
  /** `--datastore-revision-quantization-interval`, e.g. `3s`. */
  quantization?: string;
  /** Dispatch clustering: this node serves dispatch on `listen`, and dispatches to `upstream`. */
  dispatch?: { listen: string; upstream: string };
  /** Written once the server listens. */
  schema?: string;
  /** Serve SpiceDB's Prometheus metrics on a free loopback port (`metricsUrl`). */
  metrics?: boolean;
  /** More `spicedb` flags, after the harness's own. */
  args?: string[];
  startTimeoutMs?: number;
}

export interface SpiceDbProcess {
  readonly datastore: SpiceDbDatastore;
  readonly endpoint: string;
  readonly token: string;
  /** postgres: the database served. */
  readonly datastoreUri: string | undefined;
  readonly pid: number | undefined;
  /** `http://127.0.0.1:PORT/metrics` when started with `metrics: true`. */
  readonly metricsUrl: string | undefined;
  /** SPICEDB_ENDPOINT / SPICEDB_TOKEN / SPICEDB_INSECURE for a service or a CLI child. */
  readonly env: Record<'SPICEDB_ENDPOINT' | 'SPICEDB_TOKEN' | 'SPICEDB_INSECURE', string>;
  /** A plaintext connection to it (close it yourself). */
  connect(): SpiceDbConnection;
  signal(signal: NodeJS.Signals): void;
  /** SIGSTOP: the process keeps its sockets open but answers nothing. */
  freeze(): void;
  thaw(): void;
  /** SIGKILL (a frozen process too) and wait for the exit; the datastore is kept. */
  kill(): Promise<void>;
  /** Starts it again, same port and flags (after kill). */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** SIGTERM (SIGKILL after 5 s), then drops the database the harness created. */
  stop(): Promise<void>;
  /** The last lines it logged. */
  logTail(): string;
}

const QUIET = ['--skip-release-check', '--log-level', 'warn', '--http-enabled=false'];

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, killAfterMs?: number): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer =
      killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => {
      if (timer) clearTimeout(timer);
      resolve();
    });
  });
}

function serveArgs(
  options: StartSpiceDbOptions,
  address: string,
  token: string,
  uri: string | undefined,
  metricsPort: number | undefined,
) {
  if (options.datastore === 'testing') {
    return ['serve-testing', '--grpc-addr', address, '--readonly-grpc-enabled=false', ...QUIET];
  }
  const args = [
    'serve',
    '--grpc-addr',
    address,
    '--grpc-preshared-key',
    token,
    ...(metricsPort === undefined
      ? ['--metrics-enabled=false']
      : ['--metrics-addr', `127.0.0.1:${metricsPort}`]),
    '--telemetry-endpoint=',
    ...QUIET,
  ];
  if (options.datastore === 'memory') args.push('--datastore-engine', 'memory');
  else args.push('--datastore-engine', 'postgres', '--datastore-conn-uri', uri ?? '');
  for (const replica of options.readReplicaUris ?? []) {
    args.push('--datastore-read-replica-conn-uri', replica);
  }
  if (options.quantization !== undefined) {
    args.push('--datastore-revision-quantization-interval', options.quantization);
  }
  if (options.dispatch) {
    args.push(
      '--dispatch-cluster-enabled=true',
      '--dispatch-cluster-addr',
      options.dispatch.listen,
      '--dispatch-upstream-addr',
      options.dispatch.upstream,
    );
  } else {
    args.push('--dispatch-cluster-enabled=false');
  }
  return [...args, ...(options.args ?? [])];
}

export async function startSpiceDb(options: StartSpiceDbOptions): Promise<SpiceDbProcess> {
  const binary = options.binary ?? requireSpiceDbBinary();
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort());
  const endpoint = `${host}:${port}`;
  const token = options.token ?? `harness-${randomBytes(8).toString('hex')}`;

  let uri = options.datastoreUri;
  let dropDatabase: (() => void) | undefined;
  if (options.datastore === 'postgres') {
    if (uri === undefined) {
      const database = createDatabase(
        options.databasePrefix ?? 'spicedb',
        options.postgresUrl ?? postgresServerUrl(),
      );
      uri = database.uri;
      dropDatabase = () => database.drop();
    }
    try {
      migrateSpiceDb(binary, uri);
    } catch (error) {
      dropDatabase?.();
      throw error;
    }
  }
  const metricsPort = options.metrics ? await freePort() : undefined;
  const args = serveArgs(options, endpoint, token, uri, metricsPort);

  let child: ChildProcess | undefined;
  let log = '';
  const launch = async () => {
    const started = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-8_000);
    };
    started.stdout?.on('data', keep);
    started.stderr?.on('data', keep);
    child = started;
    try {
      await waitForPort(port, options.startTimeoutMs ?? 60_000, started, host);
    } catch (error) {
      started.kill('SIGKILL');
      await waitForExit(started);
      throw new Error(
        `spicedb ${args[0]} did not listen on ${endpoint}: ${String(error)}\n${log}`,
        {
          cause: error,
        },
      );
    }
  };
  const kill = async () => {
    const current = child;
    if (current === undefined || exited(current)) return;
    current.kill('SIGCONT');
    current.kill('SIGKILL');
    await waitForExit(current);
  };
  const connect = () => connectRemote({ endpoint, token, insecure: true });

  try {
    await launch();
    if (options.schema !== undefined) {
      const connection = connect();
      try {
        await connection.client?.promises.writeSchema({ schema: options.schema });
      } finally {
        connection.close();
      }
    }
  } catch (error) {
    await kill();
    dropDatabase?.();
    throw error;
  }

  return {
    datastore: options.datastore,
    endpoint,
    token,
    datastoreUri: uri,
    metricsUrl: metricsPort === undefined ? undefined : `http://127.0.0.1:${metricsPort}/metrics`,
    get pid() {
      return child?.pid;
    },
    env: { SPICEDB_ENDPOINT: endpoint, SPICEDB_TOKEN: token, SPICEDB_INSECURE: 'true' },
    connect,
    signal: (signal) => {
      if (child && !exited(child)) child.kill(signal);
    },
    freeze: () => {
      if (child && !exited(child)) child.kill('SIGSTOP');
    },
    thaw: () => {
      if (child && !exited(child)) child.kill('SIGCONT');
    },
    kill,
    start: async () => {
      if (child && !exited(child)) return;
      await launch();
    },
    restart: async () => {
      await kill();
      await launch();
    },
    stop: async () => {
      const current = child;
      if (current && !exited(current)) {
        current.kill('SIGCONT');
        current.kill('SIGTERM');
        await waitForExit(current, 5_000);
      }
      dropDatabase?.();
      dropDatabase = undefined;
    },
    logTail: () => log,
  };
}
