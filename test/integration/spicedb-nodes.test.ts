import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSpiceDb, createServices, ensureSchema } from '../../src/app.js';
import { createAuthzClient, type AuthzClient } from '../../src/client.js';
import { ServiceMetrics } from '../../src/observability/metrics.js';
import { createHttpServer } from '../../src/server.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import type { Services } from '../../src/trpc/context.js';
import { testEnv } from '../support/app.js';
import { tokenFor } from '../../testkit/tokens.js';
import { postgresAvailable } from '../../testkit/postgres.js';
import { requireSpiceDbBinary } from '../../testkit/spicedb-binary.js';
import { startSpiceDb, type SpiceDbProcess } from '../../testkit/spicedb-process.js';

/**
 * SPICEDB_ENDPOINT naming two `spicedb serve` nodes on one PostgreSQL database: calls are spread
 * over both, a killed node and a frozen node are left out (their calls retried on the other),
 * /readyz answers 200 while one node answers, and /metrics counts calls per node.
 */
// Generous enough that a healthy node answers within half of it on a loaded 2-core machine (a
// call that meets a frozen node waits half the deadline there before it goes to the other).
const TIMEOUT_MS = 2_500;
const binary = requireSpiceDbBinary();
if (!postgresAvailable()) throw new Error('this suite needs PostgreSQL (PG_URL or 127.0.0.1:5432)');

describe('the service on two SpiceDB nodes', () => {
  let a: SpiceDbProcess;
  let b: SpiceDbProcess;
  let connection: SpiceDbConnection;
  let services: Services;
  let server: http.Server;
  let base: string;
  let checker: AuthzClient;
  const metrics = new ServiceMetrics({ processMetrics: false });

  beforeAll(async () => {
    a = await startSpiceDb({ datastore: 'postgres', binary, databasePrefix: 'cluster_nodes' });
    b = await startSpiceDb({
      datastore: 'postgres',
      binary,
      datastoreUri: a.datastoreUri as string,
      token: a.token,
    });
    const env = testEnv({
      SPICEDB_ENDPOINT: `${a.endpoint},${b.endpoint}`,
      SPICEDB_TOKEN: a.token,
      SPICEDB_INSECURE: 'true',
      SPICEDB_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    connection = await connectSpiceDb(env, { onNodeCall: metrics.observeSpiceDbNode });
    metrics.watchSpiceDbNodes(connection.nodes ?? (() => []));
    // The first schema write on a fresh datastore may take longer than the short deadline.
    await ensureSchema(createServices(testEnv(), connection).spicedb);
    services = createServices(env, connection);
    server = createHttpServer(services, { webRoot: false });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ownerToken = await tokenFor('nodes-owner');
    const owner = createAuthzClient({ url: base, getToken: () => ownerToken });
    await owner.org.create.mutate({ orgId: 'nodes' });
    const checkerToken = await tokenFor('nodes-checker', { scope: 'authz:check' });
    checker = createAuthzClient({ url: base, getToken: () => checkerToken });
  }, 120_000);

  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    connection?.close();
    await b?.stop();
    await a?.stop();
  });

  /**
   * `count` checks of the owner's settings one after the other (so that each is its own SpiceDB
   * call, in turn over the nodes); how many answered allowed, and how many failed.
   */
  async function checks(count: number) {
    const result = { allowed: 0, failed: 0 };
    for (let i = 0; i < count; i += 1) {
      try {
        const answer = await checker.authz.check.query({
          resource: 'organization:nodes',
          permission: 'write_settings',
          subject: 'user:nodes-owner',
          consistency: { fullyConsistent: true },
        });
        if (answer.allowed) result.allowed += 1;
      } catch {
        result.failed += 1;
      }
    }
    return result;
  }
  const readyz = async () => (await fetch(`${base}/readyz`)).status;
  const calls = () => Object.fromEntries((connection.nodes?.() ?? []).map((n) => [n.address, n]));

  it('spreads calls over both nodes and counts them per node in /metrics', async () => {
    expect(await checks(20)).toEqual({ allowed: 20, failed: 0 });
    const byNode = calls();
    expect(byNode[a.endpoint]?.calls).toBeGreaterThan(0);
    expect(byNode[b.endpoint]?.calls).toBeGreaterThan(0);
    const text = await metrics.render();
    expect(text).toContain(`authz_spicedb_node_calls_total{node="${a.endpoint}",outcome="ok"}`);
    expect(text).toContain(`authz_spicedb_node_up{node="${b.endpoint}"} 1`);
    expect(await readyz()).toBe(200);
  });

  it('a killed node is left out: every call answers through the other, /readyz stays 200', async () => {
    await a.kill();
    expect(await checks(30)).toEqual({ allowed: 30, failed: 0 });
    // Whether a call met the dead node before the probe did is a race; either way it is left out.
    expect(calls()[a.endpoint]?.up).toBe(false);
    expect(await readyz()).toBe(200);
    await a.start();
    await expect.poll(() => calls()[a.endpoint]?.up, { timeout: 10_000 }).toBe(true);
  });

  it('a frozen node is left out once its deadline or probe passes; calls stuck on it retry on the other', async () => {
    b.freeze();
    try {
      // A call sent to b before anything noticed gets half the deadline there, then goes to a.
      expect(await checks(30)).toEqual({ allowed: 30, failed: 0 });
      expect(calls()[b.endpoint]?.errors).toBeGreaterThan(0);
      await expect.poll(() => calls()[b.endpoint]?.up, { timeout: 5_000 }).toBe(false);
      expect(await checks(30)).toEqual({ allowed: 30, failed: 0 });
      expect(await readyz()).toBe(200);
    } finally {
      b.thaw();
    }
    await expect.poll(() => calls()[b.endpoint]?.up, { timeout: 10_000 }).toBe(true);
    expect(await checks(10)).toEqual({ allowed: 10, failed: 0 });
  });

  it('/readyz is 503 once no node answers', async () => {
    await a.kill();
    await b.kill();
    await expect.poll(readyz, { timeout: 10_000 }).toBe(503);
    await a.start();
    await expect.poll(readyz, { timeout: 15_000 }).toBe(200);
  });
});
