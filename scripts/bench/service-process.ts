import type { AddressInfo } from 'node:net';
import { createServices } from '../../src/app.js';
import { loadEnv } from '../../src/config/env.js';
import { createHttpServer } from '../../src/server.js';
import { connectRemote } from '../../src/spicedb/connection.js';

/**
 * The service as its own process for the HTTP benchmark, as it runs in production: the real
 * HTTP server (createHttpServer over createServices) on a free loopback port. It reports its
 * port over IPC and answers `stats` with its gateway's counters.
 */
const env = loadEnv({
  NODE_ENV: 'production',
  METRICS_TOKEN: 'bench-metrics-token-not-a-secret',
  SPICEDB_ENDPOINT: process.env.BENCH_SPICEDB_ENDPOINT,
  SPICEDB_TOKEN: process.env.BENCH_SPICEDB_TOKEN,
  SPICEDB_INSECURE: 'true',
  SPICEDB_TIMEOUT_MS: '10000',
  AUTH_JWT_SECRET: process.env.BENCH_JWT_SECRET,
});
const connection = connectRemote({
  endpoint: env.SPICEDB_ENDPOINT ?? '',
  token: env.SPICEDB_TOKEN ?? '',
  insecure: true,
});
const services = createServices(env, connection);
const server = createHttpServer(services);
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', port });
});

process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') {
    process.send?.({
      type: 'stats',
      stats: services.spicedb.stats,
      consistency: services.spicedb.consistency(),
      rss: process.memoryUsage().rss,
    });
  }
  if (message.type === 'close') {
    server.closeAllConnections();
    server.close(() => {
      connection.close();
      process.exit(0);
    });
  }
});
process.on('disconnect', () => process.exit(0));
