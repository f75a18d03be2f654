import { existsSync } from 'node:fs';
import path from 'node:path';
import { connectSpiceDb, createServices, ensureSchema, jwtSecretOf } from './app.js';
import { loadEnv } from './config/env.js';
import { createLogger } from './observability/logger.js';
import { ServiceMetrics } from './observability/metrics.js';
import { createMetricsServer } from './observability/metrics-access.js';
import { createHttpServer, DEFAULT_WEB_ROOT, shutdownGracefully } from './server.js';
import {
  listenFailure,
  spiceDbFailure,
  StartupFailure,
  startupFailureLine,
} from './startup-failure.js';

async function main(): Promise<void> {
  const env = loadEnv();
  const log = createLogger(env.LOG_LEVEL);
  if (env.AUTH_JWT_SECRET === undefined && env.AUTH_JWKS_URL === undefined) {
    log.warn(
      'AUTH_JWT_SECRET is not set: accepting HS256 tokens signed with the development secret',
    );
  }
  const metrics = new ServiceMetrics();
  const connection = await connectSpiceDb(env, { onNodeCall: metrics.observeSpiceDbNode }).catch(
    (error: unknown) => {
      throw spiceDbFailure(error, env);
    },
  );
  if (connection.nodes) metrics.watchSpiceDbNodes(connection.nodes);
  const services = createServices(env, connection, {
    onCall: metrics.observeSpiceDbCall,
    onBatch: metrics.observeCoalescedBatch,
  });
  if (services.live) metrics.trackLiveAccess(services.live);
  // The embedded SpiceDB starts with schema.zed loaded (and serves no SchemaService to diff it).
  const schema =
    connection.kind === 'embedded'
      ? 'written'
      : await ensureSchema(services.spicedb).catch((error: unknown) => {
          connection.close();
          throw spiceDbFailure(error, env);
        });
  if (connection.kind === 'embedded') {
    log.info(
      'SPICEDB_ENDPOINT is not set: running an embedded, in-memory SpiceDB with schema.zed (data is lost on exit)',
    );
  } else {
    log.info({ schema }, `using ${connection.description}`);
  }

  // DEVELOPMENT ONLY: minting tokens for any user id is offered only while the service trusts
  // the well-known development secret (no AUTH_JWT_SECRET, no JWKS), never in production.
  const usesDevelopmentSecret =
    env.AUTH_JWT_SECRET === undefined && env.AUTH_JWKS_URL === undefined;
  const devSecret =
    env.NODE_ENV !== 'production' && usesDevelopmentSecret ? jwtSecretOf(env) : undefined;
  const metricsAccess = { token: env.METRICS_TOKEN };
  const ownMetricsPort = env.METRICS_PORT !== undefined;
  const server = createHttpServer(services, {
    log,
    metrics,
    cors: env.CORS_ORIGINS,
    metricsRoute: ownMetricsPort ? false : metricsAccess,
    ...(devSecret !== undefined ? { devTokens: { secret: devSecret } } : {}),
    onError: ({ path: procedure, code, error, log: requestLog = log }) => {
      // The request's own logger: the line carries its request id.
      if (code === 'INTERNAL_SERVER_ERROR') {
        requestLog.error({ procedure, err: error }, 'request failed');
      }
    },
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      services.spicedb.close();
      reject(listenFailure(error, env));
    };
    server.once('error', failed);
    server.listen(env.PORT, env.HOST, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const base = `http://${env.HOST}:${port}`;
  log.info(`authz service listening on ${base} (tRPC at /trpc, metrics at /metrics)`);
  if (existsSync(path.join(DEFAULT_WEB_ROOT, 'index.html'))) {
    log.info(`access explorer at ${base}/explorer`);
  } else {
    log.info('the access-explorer page is not built: run `npm run build:web` to serve it');
  }
  if (devSecret !== undefined) {
    log.warn('development mode: POST /dev/token mints caller tokens for any user id');
  }

  const metricsServer = ownMetricsPort ? createMetricsServer(metrics, metricsAccess) : undefined;
  if (metricsServer !== undefined) {
    const metricsHost = env.METRICS_HOST ?? env.HOST;
    const metricsPort = await new Promise<number>((resolve, reject) => {
      metricsServer.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new StartupFailure(
            `cannot serve /metrics on METRICS_HOST ${metricsHost} METRICS_PORT ${env.METRICS_PORT} (${error.code ?? error.message})`,
          ),
        ),
      );
      metricsServer.listen(env.METRICS_PORT, metricsHost, () => {
        const address = metricsServer.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
    log.info(`metrics at http://${metricsHost}:${metricsPort}/metrics`);
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: draining in-flight requests');
    metricsServer?.close();
    void shutdownGracefully(server, services, { timeoutMs: 10_000, log }).then(({ drained }) => {
      log.info({ drained }, 'stopped');
      process.exit(0);
    });
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`${startupFailureLine(error)}\n`);
  process.exit(1);
});
