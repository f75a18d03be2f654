import { createServices } from '../../src/app.js';
import type { AuditRecord } from '../../src/audit/audit-trail.js';
import { createHttpServer } from '../../src/server.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import type { Services } from '../../src/trpc/context.js';
import { testEnv } from './app.js';
import { httpTrpc } from './sample-org.js';
import { freshSpiceDb } from './spicedb.js';
import { tokenFor } from '../../testkit/tokens.js';
import type { AddressInfo } from 'node:net';

/** What a plain-HTTP tRPC call answered: its data, or its tRPC error code and message. */
export type Answer<T = unknown> =
  { ok: true; data: T } | { ok: false; code: string; message: string; status: number };

export interface HttpService {
  services: Services;
  connection: SpiceDbConnection;
  /** Every audit record the service wrote, in order. */
  audit: AuditRecord[];
  query<T = unknown>(userId: string, path: string, input?: unknown): Promise<Answer<T>>;
  mutation<T = unknown>(userId: string, path: string, input?: unknown): Promise<Answer<T>>;
  /** A mutation that must succeed; returns its data. */
  must<T = { zedToken: string }>(userId: string, path: string, input?: unknown): Promise<T>;
  close(): Promise<void>;
}

/**
 * The service over real HTTP (the same server `npm start` runs) on a fresh SpiceDB, called as
 * curl would: JSON in, JSON out, tokens per user.
 */
export async function startHttpService(connection?: SpiceDbConnection): Promise<HttpService> {
  const conn = connection ?? (await freshSpiceDb());
  const audit: AuditRecord[] = [];
  const services = createServices(testEnv(), conn, {}, (record) => audit.push(record));
  const server = createHttpServer(services);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const http = httpTrpc(`http://127.0.0.1:${port}`, (userId) => tokenFor(userId));
  const answer = <T>(call: Awaited<ReturnType<typeof http.query>>): Answer<T> =>
    'error' in call.body
      ? {
          ok: false,
          code: call.body.error.data.code,
          message: call.body.error.message,
          status: call.status,
        }
      : { ok: true, data: call.body.result.data as T };
  const service: HttpService = {
    services,
    connection: conn,
    audit,
    query: async (userId, path, input) => answer(await http.query(userId, path, input)),
    mutation: async (userId, path, input) => answer(await http.mutation(userId, path, input)),
    async must<T>(userId: string, path: string, input?: unknown) {
      const result = await service.mutation<T>(userId, path, input);
      if (!result.ok) throw new Error(`${path} as ${userId}: ${result.code} ${result.message}`);
      return result.data;
    },
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      conn.close();
    },
  };
  return service;
}

/** A time `seconds` from now, as RFC 3339. */
export const inSeconds = (seconds: number): string =>
  new Date(Date.now() + seconds * 1000).toISOString();

/**
 * Polls `probe` until it returns true, for behaviour that happens by itself (an expiry): the
 * bound only keeps a broken build from hanging, it asserts no timing.
 */
export async function eventually(probe: () => Promise<boolean>, boundMs = 30_000): Promise<void> {
  const giveUp = Date.now() + boundMs;
  while (!(await probe())) {
    if (Date.now() > giveUp) throw new Error(`still not true after ${boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Whether `userId` holds `permission` on `resource`, asked over HTTP at the newest revision. */
export async function allowedOver(
  svc: HttpService,
  userId: string,
  resource: string,
  permission: string,
): Promise<boolean> {
  const answer = await svc.query<{ allowed: boolean }>(userId, 'authz.check', {
    resource,
    permission,
    consistency: { fullyConsistent: true },
  });
  if (!answer.ok) throw new Error(`check failed: ${answer.code} ${answer.message}`);
  return answer.data.allowed;
}
