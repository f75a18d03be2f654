import { loadEnv } from '../../src/config/env.js';
import { connectRemote } from '../../src/spicedb/connection.js';

/**
 * The environment and SpiceDB connection of a benchmark's service process, as production runs
 * it: the orchestrator passes the SpiceDB endpoint, its token and the JWT secret as BENCH_*
 * variables; `overrides` are the benchmark's own settings (limits, audit log).
 */
export function benchServiceSetup(overrides: Record<string, string> = {}) {
  const env = loadEnv({
    NODE_ENV: 'production',
    METRICS_TOKEN: 'bench-metrics-token-not-a-secret',
    SPICEDB_ENDPOINT: process.env.BENCH_SPICEDB_ENDPOINT,
    SPICEDB_TOKEN: process.env.BENCH_SPICEDB_TOKEN,
    SPICEDB_INSECURE: 'true',
    SPICEDB_TIMEOUT_MS: '10000',
    AUTH_JWT_SECRET: process.env.BENCH_JWT_SECRET,
    ...overrides,
  });
  const connection = connectRemote({
    endpoint: env.SPICEDB_ENDPOINT ?? '',
    token: env.SPICEDB_TOKEN ?? '',
    insecure: true,
  });
  return { env, connection };
}
