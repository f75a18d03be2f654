import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createServices } from '../../src/app.js';
import { ConfigError, loadEnv } from '../../src/config/env.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import { listenOn, testEnv, type Listening } from '../support/app.js';
import { freshSpiceDb } from '../support/spicedb.js';
import { tokenFor } from '../../testkit/tokens.js';

const checkUrl = (base: string, resource: string, subject?: string) =>
  `${base}/trpc/authz.check?input=${encodeURIComponent(
    JSON.stringify({ resource, permission: 'view_profile', ...(subject ? { subject } : {}) }),
  )}`;

describe('rate limits per scope', () => {
  let connection: SpiceDbConnection;
  let http: Listening;

  beforeAll(async () => {
    // The buckets refill with performance.now(): frozen, no request regains budget however slowly
    // the machine answers, so each expected status follows from the counts alone.
    vi.useFakeTimers({ toFake: ['performance'] });
    connection = await freshSpiceDb();
    const services = createServices(
      testEnv({
        RATE_LIMIT_PER_SECOND: '0.5',
        RATE_LIMIT_BURST: '2',
        RATE_LIMIT_BACKEND_PER_SECOND: '1',
        RATE_LIMIT_BACKEND_BURST: '6',
      }),
      connection,
    );
    http = await listenOn(services);
  });
  afterAll(async () => {
    vi.useRealTimers();
    await http.close();
    connection.close();
  });

  it('answers 429 with Retry-After in whole seconds once a user caller is over its budget', async () => {
    const headers = { authorization: `Bearer ${await tokenFor('frontend-user')}` };
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 3; i += 1) {
      const response = await fetch(checkUrl(http.url, 'user:frontend-user'), { headers });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
      await response.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 429]);
    // One request regains in 2 s at 0.5 per second.
    expect(retryAfter).toBe('2');
  });

  it('gives a backend caller (scope authz:check) its own, larger budget', async () => {
    const headers = {
      authorization: `Bearer ${await tokenFor('backend-svc', { scope: BACKEND_SCOPE })}`,
    };
    const statuses: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      const response = await fetch(checkUrl(http.url, `user:u${i}`, `user:u${i}`), { headers });
      statuses.push(response.status);
      if (response.status === 429) expect(response.headers.get('retry-after')).toBe('1');
      await response.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429]);
  });

  it('carries Retry-After on a batch in which some calls were limited', async () => {
    const headers = { authorization: `Bearer ${await tokenFor('batch-user')}` };
    const input = encodeURIComponent(
      JSON.stringify(
        Object.fromEntries(
          [0, 1, 2].map((i) => [i, { resource: 'user:batch-user', permission: 'view_profile' }]),
        ),
      ),
    );
    const response = await fetch(
      `${http.url}/trpc/authz.check,authz.check,authz.check?batch=1&input=${input}`,
      { headers },
    );
    const body = (await response.json()) as Array<{ error?: { data?: { code?: string } } }>;
    expect(body.map((item) => item.error?.data?.code ?? 'ok')).toEqual([
      'ok',
      'ok',
      'TOO_MANY_REQUESTS',
    ]);
    expect(response.status).toBe(207);
    expect(response.headers.get('retry-after')).toBe('2');
  });

  it('leaves Retry-After off answers that were not limited', async () => {
    const response = await fetch(checkUrl(http.url, 'user:calm-user'), {
      headers: { authorization: `Bearer ${await tokenFor('calm-user')}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('retry-after')).toBeNull();
  });
});

describe('backend rate-limit configuration', () => {
  it('defaults to a budget above the per-user one', () => {
    const env = loadEnv({});
    expect(env.RATE_LIMIT_BACKEND_PER_SECOND).toBeGreaterThan(env.RATE_LIMIT_PER_SECOND);
    expect(env.RATE_LIMIT_BACKEND_BURST).toBeGreaterThan(env.RATE_LIMIT_BURST);
  });

  it.each([
    [{ RATE_LIMIT_BACKEND_PER_SECOND: 'fast' }, 'RATE_LIMIT_BACKEND_PER_SECOND'],
    [{ RATE_LIMIT_BACKEND_PER_SECOND: '-1' }, 'RATE_LIMIT_BACKEND_PER_SECOND'],
    [{ RATE_LIMIT_BACKEND_BURST: '1.5' }, 'RATE_LIMIT_BACKEND_BURST'],
    [{ RATE_LIMIT_BACKEND_BURST: '0' }, 'RATE_LIMIT_BACKEND_BURST'],
  ])('refuses %j, naming %s', (source, name) => {
    expect(() => loadEnv(source)).toThrow(ConfigError);
    expect(() => loadEnv(source)).toThrow(name);
  });

  it('turns backend limiting off with both set to 0', () => {
    const env = loadEnv({ RATE_LIMIT_BACKEND_PER_SECOND: '0', RATE_LIMIT_BACKEND_BURST: '0' });
    expect([env.RATE_LIMIT_BACKEND_PER_SECOND, env.RATE_LIMIT_BACKEND_BURST]).toEqual([0, 0]);
  });
});
