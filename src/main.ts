import { pino } from 'pino';
import { connectSpiceDb, createServices, ensureSchema } from './app.js';
import { ConfigError, loadEnv } from './config/env.js';
import { createHttpServer } from './server.js';

async function main(): Promise<void> {
  const env = loadEnv();
  const log = pino({ level: env.LOG_LEVEL, base: { service: 'authz' } });
  if (env.AUTH_JWT_SECRET === undefined && env.AUTH_JWKS_URL === undefined) {
    log.warn(
      'AUTH_JWT_SECRET is not set: accepting HS256 tokens signed with the development secret',
    );
  }
  const connection = await connectSpiceDb(env);
  const services = createServices(env, connection);
  const schema = await ensureSchema(services.spicedb);
  if (connection.kind === 'embedded') {
    log.info(
      'SPICEDB_ENDPOINT is not set: running an embedded, in-memory SpiceDB with schema.zed (data is lost on exit)',
    );
  } else {
    log.info({ schema }, `using ${connection.description}`);
  }

  const server = createHttpServer(services, {
    onError: ({ path, code, error }) => {
      if (code === 'INTERNAL_SERVER_ERROR') log.error({ path, err: error }, 'request failed');
    },
  });
  server.listen(env.PORT, env.HOST, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : env.PORT;
    log.info(`authz service listening on http://${env.HOST}:${port} (tRPC at /trpc)`);
  });

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    server.close(() => {
      services.spicedb.close();
      process.exit(0);
    });
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
  } else {
    console.error('authz service failed to start:', error);
  }
  process.exit(1);
});
