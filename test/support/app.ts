import type { AddressInfo } from 'node:net';
import { createServices } from '../../src/app.js';
import { loadEnv } from '../../src/config/env.js';
import { createHttpServer, type HttpServerOptions } from '../../src/server.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import type { Services } from '../../src/trpc/context.js';
import { createCallerFactory } from '../../src/trpc/trpc.js';
import { appRouter } from '../../src/trpc/routers/_app.js';
import { freshSpiceDb } from './spicedb.js';
import { TEST_JWT_SECRET, tokenFor } from '../../testkit/tokens.js';

const createCaller = createCallerFactory(appRouter);

export interface TestApp {
  services: Services;
  connection: SpiceDbConnection;
  /** A tRPC caller acting as `userId` (with an optional token scope). */
  as(userId: string, scope?: string): Promise<ReturnType<typeof createCaller>>;
  close(): void;
}

export function testEnv(overrides: Record<string, string> = {}) {
  return loadEnv({
    NODE_ENV: 'test',
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    SPICEDB_TIMEOUT_MS: '10000',
    // Suites that assert the audit trail inject their own sink; the rest keep stdout quiet.
    AUDIT_LOG: 'off',
    ...overrides,
  });
}

/** The service's procedures over a fresh SpiceDB, called in-process through createCaller. */
export async function createTestApp(connection?: SpiceDbConnection): Promise<TestApp> {
  const conn = connection ?? (await freshSpiceDb());
  const services = createServices(testEnv(), conn);
  return {
    services,
    connection: conn,
    async as(userId, scope) {
      const token = await tokenFor(userId, scope ? { scope } : {});
      return createCaller({ ...services, authorization: `Bearer ${token}`, requestId: 'test' });
    },
    close: () => {
      services.live?.close();
      conn.close();
    },
  };
}

export interface Listening {
  url: string;
  close(): Promise<void>;
}

/** `services` over real HTTP (the server `npm start` runs) on a free loopback port. */
export async function listenOn(
  services: Services,
  options?: HttpServerOptions,
): Promise<Listening> {
  const server = createHttpServer(services, options);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The same service over real HTTP on a free loopback port. */
export const startHttpApp = (app: TestApp): Promise<Listening> => listenOn(app.services);
