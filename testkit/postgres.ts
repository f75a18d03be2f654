/**
 * Databases on a PostgreSQL server for `spicedb serve`: create one of a caller's own, migrate it
 * to this SpiceDB's tables (`spicedb datastore migrate head`), drop it.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** PG_URL, else the machine's PostgreSQL (trust auth for the postgres user). */
export function postgresServerUrl(): string {
  return (process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432').replace(/\/+$/, '');
}

/** True when `psql` reaches the server. */
export function postgresAvailable(serverUrl = postgresServerUrl()): boolean {
  const result = spawnSync('psql', [`${serverUrl}/postgres`, '-tAc', 'select 1'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return result.status === 0;
}

/** Runs SQL with psql (stops at the first error) and returns its unaligned output. */
export function psql(databaseUrl: string, sql: string): string {
  const result = spawnSync('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-qtAc', sql], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) {
    throw new Error(`psql ${sql}: ${result.stderr || result.error?.message || 'failed'}`);
  }
  return result.stdout;
}

export interface PostgresDatabase {
  name: string;
  /** The connection string SpiceDB's `--datastore-conn-uri` takes. */
  uri: string;
  drop(): void;
}

/** A new database named `${prefix}_<random>` on the server. */
export function createDatabase(prefix: string, serverUrl = postgresServerUrl()): PostgresDatabase {
  if (!/^[a-z_][a-z0-9_]*$/.test(prefix)) throw new Error(`bad database prefix ${prefix}`);
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  psql(`${serverUrl}/postgres`, `CREATE DATABASE ${name}`);
  return {
    name,
    uri: `${serverUrl}/${name}?sslmode=disable`,
    drop: () => {
      psql(`${serverUrl}/postgres`, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** `spicedb datastore migrate head` on a PostgreSQL database. */
export function migrateSpiceDb(binary: string, uri: string): void {
  const result = spawnSync(
    binary,
    [
      'datastore',
      'migrate',
      'head',
      '--datastore-engine',
      'postgres',
      '--datastore-conn-uri',
      uri,
      '--log-level',
      'warn',
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (result.status !== 0) {
    throw new Error(`spicedb datastore migrate head failed (${result.status}): ${result.stderr}`);
  }
}
