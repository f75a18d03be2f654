/** The SpiceDB servers the checks benchmark measures, started by the one harness (testkit). */
import { ensureSpiceDbBinary } from '../../testkit/spicedb-binary.js';
import { startSpiceDb, type SpiceDbProcess } from '../../testkit/spicedb-process.js';

/** A SpiceDB server the benchmark started, named for its report. */
export type BenchSpiceDb = Pick<SpiceDbProcess, 'endpoint' | 'token' | 'stop'> & { name: string };

export const spicedbBinary = ensureSpiceDbBinary;

/** `spicedb serve-testing`: in-memory, a datastore per preshared key. */
export async function startServeTesting(binary: string): Promise<BenchSpiceDb> {
  const spicedb = await startSpiceDb({ datastore: 'testing', binary });
  return Object.assign(spicedb, { name: 'serve-testing (memory)' });
}

/**
 * `spicedb serve` on a PostgreSQL database of its own (created, migrated, dropped on stop).
 * BENCH_PG_URL names the server (default PG_URL or postgres://postgres@127.0.0.1:5432).
 */
export async function startServeOnPostgres(binary: string): Promise<BenchSpiceDb> {
  const spicedb = await startSpiceDb({
    datastore: 'postgres',
    binary,
    databasePrefix: 'spicedb_bench',
    ...(process.env.BENCH_PG_URL ? { postgresUrl: process.env.BENCH_PG_URL } : {}),
  });
  return Object.assign(spicedb, { name: 'serve on PostgreSQL' });
}
