import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/spicedb/loopback.js';
import { testTarget } from '../support/spicedb.js';
import { runToExit, startService, type ServiceProcess } from '../support/service-process.js';
import { TEST_JWT_SECRET } from '../../testkit/tokens.js';

/**
 * GET /metrics in production: behind METRICS_TOKEN, or on METRICS_HOST/METRICS_PORT only; a
 * production start with neither stops with one clear message. The real `npm start`, as a child process.
 */
const METRICS_TOKEN = `metrics-${randomUUID()}`;

function serviceEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(SPICEDB_|AUTH_|METRICS_|PORT$|HOST$|NODE_ENV$)/.test(name)) delete env[name];
  }
  const target = testTarget();
  const spicedb =
    target.mode === 'server'
      ? {
          SPICEDB_ENDPOINT: target.endpoint,
          SPICEDB_TOKEN: `metrics-${randomUUID()}`,
          SPICEDB_INSECURE: 'true',
        }
      : {};
  return {
    ...env,
    ...spicedb,
    HOST: '127.0.0.1',
    PORT: '0',
    NODE_ENV: 'production',
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    AUDIT_LOG: 'off',
    ...extra,
  };
}

const started: ServiceProcess[] = [];
async function start(extra: Record<string, string>): Promise<ServiceProcess> {
  const service = await startService({ npm: 'start' }, serviceEnv(extra));
  started.push(service);
  return service;
}

afterAll(async () => {
  await Promise.all(started.map((service) => service.stop()));
});

describe('/metrics in production', () => {
  it('refuses to start with /metrics open, in one line naming the variables', async () => {
    const { code, stderr } = await runToExit({ npm: 'start' }, serviceEnv({}));
    expect(code).not.toBe(0);
    const line = stderr.split('\n').find((l) => l.startsWith('authz:'));
    expect(line).toContain('METRICS_TOKEN or METRICS_PORT is required in production');
  });

  it('serves /metrics only with the bearer token', async () => {
    const { url } = await start({ METRICS_TOKEN });
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const wrong = { authorization: `Bearer ${METRICS_TOKEN}x` };
    expect((await fetch(`${url}/metrics`, { headers: wrong })).status).toBe(401);
    const right = await fetch(`${url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('authz_http_request_duration_seconds');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('serves /metrics on its own listen address and not on the service port', async () => {
    const metricsPort = await freePort();
    const { url } = await start({ METRICS_HOST: '127.0.0.1', METRICS_PORT: String(metricsPort) });
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
    const own = `http://127.0.0.1:${metricsPort}`;
    // The listener may come up a moment after the service's own.
    let response: Response | undefined;
    for (let attempt = 0; attempt < 50 && response === undefined; attempt += 1) {
      response = await fetch(`${own}/metrics`).catch(async () => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        return undefined;
      });
    }
    expect(response?.status).toBe(200);
    expect(await response?.text()).toContain('authz_trpc_requests_total');
    expect((await fetch(`${own}/trpc/authz.check`)).status).toBe(404);
  });
});
