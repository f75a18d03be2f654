/**
 * A `spicedb serve` on a PostgreSQL database of its own, for the bulk kill tests and the import
 * benchmark: create and migrate the database, start, SIGKILL and restart the server on the same
 * port, drop the database. Not used by the service itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connectRemote } from '../spicedb/connection.js';
import { freePort, waitForPort } from '../spicedb/loopback.js';

export interface PostgresSpiceDbOptions {
  binary: string;
  schemaText: string;
  /** default postgres://postgres@127.0.0.1:5432 */
  postgresUrl?: string;
  namePrefix?: string;
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
  }
  return result.stdout;
}

export function postgresAvailable(postgresUrl = 'postgres://postgres@127.0.0.1:5432'): boolean {
  const result = spawnSync('psql', [`${postgresUrl}/postgres`, '-tAc', 'select 1'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return result.status === 0;
}

export class PostgresSpiceDb {
  readonly database: string;
  readonly token = `bulk-${randomBytes(8).toString('hex')}`;
  private child: ChildProcess | undefined;
  private port = 0;
  private readonly postgresUrl: string;

  constructor(private readonly options: PostgresSpiceDbOptions) {
    this.postgresUrl = options.postgresUrl ?? 'postgres://postgres@127.0.0.1:5432';
    this.database = `${options.namePrefix ?? 'spicedb_bulk'}_${randomBytes(5).toString('hex')}`;
  }

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  get datastoreUri(): string {
    return `${this.postgresUrl}/${this.database}?sslmode=disable`;
  }

  /** Creates and migrates the database, starts the server and writes the schema. */
  async create(): Promise<this> {
    run('psql', [`${this.postgresUrl}/postgres`, '-qc', `CREATE DATABASE ${this.database}`]);
    run(this.options.binary, [
      'datastore',
      'migrate',
      'head',
      '--datastore-engine',
      'postgres',
      '--datastore-conn-uri',
      this.datastoreUri,
      '--log-level',
      'warn',
    ]);
    this.port = await freePort();
    await this.start();
    const connection = this.connect();
    try {
      await connection.client?.promises.writeSchema({ schema: this.options.schemaText });
    } finally {
      connection.close();
    }
    return this;
  }

  connect() {
    return connectRemote({ endpoint: this.endpoint, token: this.token, insecure: true });
  }

  get env(): Record<string, string> {
    return { SPICEDB_ENDPOINT: this.endpoint, SPICEDB_TOKEN: this.token, SPICEDB_INSECURE: 'true' };
  }

  async start(): Promise<void> {
    const child = spawn(
      this.options.binary,
      [
        'serve',
        '--grpc-preshared-key',
        this.token,
        '--datastore-engine',
        'postgres',
        '--datastore-conn-uri',
        this.datastoreUri,
        '--grpc-addr',
        this.endpoint,
        '--http-enabled=false',
        '--metrics-addr',
        '127.0.0.1:0',
        '--dispatch-cluster-enabled=false',
        '--telemetry-endpoint=',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    this.child = child;
    try {
      await waitForPort(this.port, 60_000, child);
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`spicedb serve did not listen on ${this.endpoint}: ${stderr}`, {
        cause: error,
      });
    }
  }

  /** SIGKILL: no graceful shutdown, in-flight transactions are cut. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
  }

  /** Stops the server and drops the database. */
  async destroy(): Promise<void> {
    await this.stop();
    spawnSync('psql', [
      `${this.postgresUrl}/postgres`,
      '-qc',
      `DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`,
    ]);
  }
}
