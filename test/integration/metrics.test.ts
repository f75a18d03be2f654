import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/app.js';
import { createAuthzClient, errorCodeOf } from '../../src/client.js';
import { ServiceMetrics } from '../../src/observability/metrics.js';
import { createHttpServer, shutdownGracefully } from '../../src/server.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import type { Services } from '../../src/trpc/context.js';
import { testEnv } from '../support/app.js';
import { freshSpiceDb, testTarget } from '../support/spicedb.js';
import { TEST_JWT_SECRET, tokenFor } from '../../testkit/tokens.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface Running {
  services: Services;
  server: http.Server;
  url: string;
  metrics: ServiceMetrics;
  logs: Array<Record<string, unknown>>;
  connection: SpiceDbConnection;
}

async function startInstrumented(): Promise<Running> {
  const connection = await freshSpiceDb();
  const metrics = new ServiceMetrics({ processMetrics: false });
  const services = createServices(testEnv(), connection, {
    onCall: metrics.observeSpiceDbCall,
    onBatch: metrics.observeCoalescedBatch,
  });
  const logs: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const server = createHttpServer(services, { metrics, log, webRoot: false });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { services, server, url, metrics, logs, connection };
}

/** The value of one sample line of the Prometheus text format, or undefined. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics at /metrics and request ids', () => {
  let running: Running;

  beforeAll(async () => {
    running = await startInstrumented();
  });
  afterAll(async () => {
    await shutdownGracefully(running.server, running.services, { timeoutMs: 2_000 });
  });

  const as = async (userId: string, requestId?: string) => {
    const token = await tokenFor(userId);
    return createAuthzClient({
      url: running.url,
      getToken: () => token,
      ...(requestId ? { requestId: () => requestId } : {}),
    });
  };

  it('counts procedures by name and code, times them, and times SpiceDB calls', async () => {
    const alice = await as('alice', 'req-create-acme');
    await alice.org.create.mutate({ orgId: 'acme' });
    await alice.authz.check.query({ resource: 'organization:acme', permission: 'write_billing' });
    const bob = await as('bob');
    await expect(bob.org.listMembers.query({ orgId: 'acme' })).rejects.toSatisfy(
      (error) => errorCodeOf(error) === 'FORBIDDEN',
    );
    const badInput = await fetch(
      `${running.url}/trpc/authz.check?input=${encodeURIComponent(JSON.stringify({ resource: 'nope', permission: 'view' }))}`,
      { headers: { authorization: `Bearer ${await tokenFor('bob')}` } },
    );
    expect(badInput.status).toBe(400);

    const response = await fetch(`${running.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    const calls = 'authz_trpc_requests_total';
    expect(sample(text, calls, { procedure: 'org.create', type: 'mutation', code: 'OK' })).toBe(1);
    expect(sample(text, calls, { procedure: 'authz.check', code: 'OK' })).toBe(1);
    expect(sample(text, calls, { procedure: 'org.listMembers', code: 'FORBIDDEN' })).toBe(1);
    expect(sample(text, calls, { procedure: 'authz.check', code: 'BAD_REQUEST' })).toBe(1);
    expect(
      sample(text, 'authz_trpc_request_duration_seconds_count', {
        procedure: 'org.create',
        code: 'OK',
      }),
    ).toBe(1);
    expect(
      sample(text, 'authz_spicedb_call_duration_seconds_count', {
        method: 'WriteRelationships',
        outcome: 'ok',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'authz_http_request_duration_seconds_count', {
        route: '/trpc',
        status: '400',
      }),
    ).toBe(1);
  });

  it('records the size of coalesced check batches', async () => {
    const alice = await as('alice');
    const permissions = [
      'read_settings',
      'write_settings',
      'read_billing',
      'write_billing',
    ] as const;
    // Concurrent checks from separate HTTP requests meet in the gateway's coalescer.
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        alice.authz.check.query({
          resource: 'organization:acme',
          permission: permissions[i % permissions.length]!,
        }),
      ),
    );
    expect(answers.every((a) => a.allowed)).toBe(true);
    const text = await (await fetch(`${running.url}/metrics`)).text();
    const batches = sample(text, 'authz_spicedb_coalesced_batch_size_count') ?? 0;
    const checks = sample(text, 'authz_spicedb_coalesced_batch_size_sum') ?? 0;
    expect(batches).toBeGreaterThanOrEqual(1);
    // Identical concurrent checks share one answer: at least the distinct ones went out.
    expect(checks).toBeGreaterThanOrEqual(permissions.length);
    console.log(`[metrics] ${checks} checks went to SpiceDB in ${batches} coalesced batches`);
  });

  it('echoes a sane x-request-id, replaces a bad one, and logs each request with it', async () => {
    const given = await fetch(`${running.url}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    const none = await fetch(`${running.url}/healthz`);
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const forged = await fetch(`${running.url}/healthz`, {
      headers: { 'x-request-id': 'x'.repeat(500) },
    });
    expect(forged.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const line = running.logs.find((entry) => entry.reqId === 'req-create-acme');
    expect(line).toMatchObject({
      msg: 'request',
      method: 'POST',
      path: '/trpc/org.create',
      status: 200,
    });
    expect(typeof line?.ms).toBe('number');
  });
});

describe('graceful shutdown', () => {
  it('stops accepting, finishes the in-flight request, then closes SpiceDB', async () => {
    const running = await startInstrumented();
    const alice = createAuthzClient({ url: running.url, getToken: () => aliceToken });
    const aliceToken = await tokenFor('alice');
    await alice.org.create.mutate({ orgId: 'slow' });

    // Hold the next SpiceDB check for 800 ms, and learn when it has started.
    const api = running.connection.api;
    let started!: () => void;
    const checkStarted = new Promise<void>((resolve) => (started = resolve));
    const hold =
      <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        started();
        await new Promise((resolve) => setTimeout(resolve, 800));
        return call(...args);
      };
    api.checkBulkPermissions = hold(api.checkBulkPermissions.bind(api));
    api.checkPermission = hold(api.checkPermission.bind(api));

    const inFlight = alice.authz.check.query({
      resource: 'organization:slow',
      permission: 'write_settings',
      consistency: { fullyConsistent: true },
    });
    await checkStarted;
    const stopping = shutdownGracefully(running.server, running.services, { timeoutMs: 5_000 });

    // A new connection is refused while the in-flight request is still running.
    const refused = await new Promise<string>((resolve) => {
      const request = http.get(`${running.url}/healthz`, { agent: false }, () =>
        resolve('answered'),
      );
      request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');

    await expect(inFlight).resolves.toMatchObject({ allowed: true });
    await expect(stopping).resolves.toEqual({ drained: true });
    // The SpiceDB connection is closed once the server has drained.
    await expect(running.services.spicedb.readSchema(1_000)).rejects.toThrow();
  });

  const target = testTarget();
  it.skipIf(target.mode !== 'server')(
    'npm start exits 0 on SIGTERM after draining',
    async () => {
      if (target.mode !== 'server') return;
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: repoRoot,
        env: {
          ...process.env,
          PORT: '0',
          SPICEDB_ENDPOINT: target.endpoint,
          SPICEDB_TOKEN: `sigterm-${randomUUID()}`,
          SPICEDB_INSECURE: 'true',
          AUTH_JWT_SECRET: TEST_JWT_SECRET,
          NODE_ENV: 'test',
          LOG_LEVEL: 'info',
        },
      });
      let output = '';
      const listening = new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
          if (match?.[1]) resolve(match[1]);
        });
        child.on('exit', (code) => reject(new Error(`exited early (${code}): ${output}`)));
      });
      const url = await listening;
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const exited = new Promise<number | null>((resolve) =>
        child.on('exit', (code) => resolve(code)),
      );
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('draining in-flight requests');
      expect(output).toMatch(/"drained":true/);
    },
    60_000,
  );
});
