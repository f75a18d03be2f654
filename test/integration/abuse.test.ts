import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/app.js';
import { MAX_BATCH_CALLS, MAX_BODY_BYTES, MAX_URL_BYTES } from '../../src/server.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import type { Services } from '../../src/trpc/context.js';
import { RateLimiter } from '../../src/trpc/rate-limit.js';
import { MAX_BULK_ITEMS, MAX_LOOKUP_LIMIT } from '../../src/trpc/routers/authz.js';
import { appRouter } from '../../src/trpc/routers/_app.js';
import { createCallerFactory } from '../../src/trpc/trpc.js';
import { listenOn, testEnv, type Listening } from '../support/app.js';
import { freshSpiceDb } from '../support/spicedb.js';
import { tokenFor } from '../../testkit/tokens.js';

const createCaller = createCallerFactory(appRouter);

/**
 * The service with a per-caller limiter on a clock the test moves by hand: no refill happens
 * while a slow machine runs the calls, and a second passes only when the test says so.
 */
function limitedServices(services: Services, limits: { perSecond: number; burst: number }) {
  const clock = { ms: 0 };
  const rateLimiter = new RateLimiter({ ...limits, now: () => clock.ms });
  return { services: { ...services, rateLimiter, backendRateLimiter: rateLimiter }, clock };
}

interface TrpcErrorBody {
  error?: { message?: string; data?: { code?: string; httpStatus?: number } };
}

describe('abuse limits', () => {
  let connection: SpiceDbConnection;
  let services: Services;
  let http: Listening;
  let token: string;

  beforeAll(async () => {
    connection = await freshSpiceDb();
    services = createServices(testEnv(), connection);
    http = await listenOn(services);
    token = await tokenFor('abuser');
  });
  afterAll(async () => {
    await http.close();
    connection.close();
  });

  describe('per-caller rate limiting', () => {
    it('refuses a caller over its budget with TOO_MANY_REQUESTS, and only that caller', async () => {
      const { services: limited, clock } = limitedServices(services, { perSecond: 1, burst: 5 });
      const callerFor = async (userId: string) =>
        createCaller({
          ...limited,
          authorization: `Bearer ${await tokenFor(userId)}`,
          requestId: 'rate',
        });
      const greedy = await callerFor('greedy');
      const check = () =>
        greedy.authz.check({ resource: 'user:greedy', permission: 'view_profile' });
      for (let i = 0; i < 5; i += 1)
        await expect(check()).resolves.toMatchObject({ allowed: true });
      await expect(check()).rejects.toMatchObject({
        code: 'TOO_MANY_REQUESTS',
        message: expect.stringContaining('rate limit') as unknown,
      });
      // Another caller has a bucket of its own.
      const patient = await callerFor('patient');
      await expect(
        patient.authz.check({ resource: 'user:patient', permission: 'view_profile' }),
      ).resolves.toMatchObject({ allowed: true });
      // The bucket refills at 1 per second: not before a whole second has passed.
      clock.ms += 999;
      await expect(check()).rejects.toMatchObject({ code: 'TOO_MANY_REQUESTS' });
      clock.ms += 1;
      await expect(check()).resolves.toMatchObject({ allowed: true });
      await expect(check()).rejects.toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    });

    it('answers 429 over HTTP, batched calls counted one by one', async () => {
      const { services: limited } = limitedServices(services, { perSecond: 1, burst: 3 });
      const server = await listenOn(limited);
      try {
        const input = encodeURIComponent(
          JSON.stringify(
            Object.fromEntries(
              [0, 1, 2, 3, 4].map((i) => [
                i,
                { resource: 'user:batcher', permission: 'view_profile' },
              ]),
            ),
          ),
        );
        const paths = Array(5).fill('authz.check').join(',');
        const response = await fetch(`${server.url}/trpc/${paths}?batch=1&input=${input}`, {
          headers: { authorization: `Bearer ${await tokenFor('batcher')}` },
        });
        const body = (await response.json()) as Array<TrpcErrorBody & { result?: unknown }>;
        const codes = body.map((item) => item.error?.data?.code ?? 'ok');
        expect(codes.filter((c) => c === 'ok')).toHaveLength(3);
        expect(codes.filter((c) => c === 'TOO_MANY_REQUESTS')).toHaveLength(2);
        const single = await fetch(
          `${server.url}/trpc/authz.check?input=${encodeURIComponent(JSON.stringify({ resource: 'user:batcher', permission: 'view_profile' }))}`,
          { headers: { authorization: `Bearer ${await tokenFor('batcher')}` } },
        );
        expect(single.status).toBe(429);
      } finally {
        await server.close();
      }
    });

    it('keeps a generous default, so ordinary suites are not limited', () => {
      const env = testEnv();
      expect(env.RATE_LIMIT_PER_SECOND).toBeGreaterThanOrEqual(1_000);
      expect(env.RATE_LIMIT_BURST).toBeGreaterThanOrEqual(2_000);
    });

    it('forgets idle callers before it holds too many buckets', () => {
      let now = 0;
      const limiter = new RateLimiter({ perSecond: 10, burst: 2, maxCallers: 100, now: () => now });
      for (let i = 0; i < 1_000; i += 1) {
        expect(limiter.take(`caller-${i}`).allowed).toBe(true);
        now += 1_000;
      }
      expect(limiter.trackedCallers).toBeLessThanOrEqual(100);
      expect(limiter.take('caller-999').allowed).toBe(true);
      expect(limiter.take('caller-999').allowed).toBe(true);
      expect(limiter.take('caller-999').allowed).toBe(false);
      expect(new RateLimiter({ perSecond: 0, burst: 0 }).take('anyone').allowed).toBe(true);
    });
  });

  describe('request size limits', () => {
    it(`refuses a body over ${MAX_BODY_BYTES} bytes with 413 PAYLOAD_TOO_LARGE`, async () => {
      const response = await fetch(`${http.url}/trpc/org.create`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ orgId: 'big', name: 'x'.repeat(MAX_BODY_BYTES) }),
      });
      expect(response.status).toBe(413);
      const body = (await response.json()) as TrpcErrorBody;
      expect(body.error?.data?.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('accepts a body just under the limit only as far as the input rules allow', async () => {
      const response = await fetch(`${http.url}/trpc/org.create`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ orgId: 'big', name: 'x'.repeat(MAX_BODY_BYTES - 100) }),
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as TrpcErrorBody;
      expect(body.error?.data?.code).toBe('BAD_REQUEST');
      expect(body.error?.message).toContain('name');
    });

    it(`refuses a GET URL over ${MAX_URL_BYTES} bytes with 414, and a giant one with a 4xx`, async () => {
      const long = encodeURIComponent(
        JSON.stringify({
          resource: `user:${'a'.repeat(MAX_URL_BYTES)}`,
          permission: 'view_profile',
        }),
      );
      const response = await fetch(`${http.url}/trpc/authz.check?input=${long}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(414);
      expect(((await response.json()) as TrpcErrorBody).error?.data?.code).toBe('URI_TOO_LONG');

      const giant = await fetch(`${http.url}/trpc/authz.check?input=${'a'.repeat(200_000)}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(giant.status).toBeGreaterThanOrEqual(400);
      expect(giant.status).toBeLessThan(500);
    });

    it(`refuses a batch of more than ${MAX_BATCH_CALLS} calls with 400`, async () => {
      const count = MAX_BATCH_CALLS + 1;
      const paths = Array(count).fill('authz.check').join(',');
      const response = await fetch(`${http.url}/trpc/${paths}?batch=1&input={}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(400);
    });

    it('survives a deeply nested JSON body with a 4xx, never a 500', async () => {
      const depth = 400_000;
      const response = await fetch(`${http.url}/trpc/org.create`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '['.repeat(depth) + ']'.repeat(depth),
      });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      const ready = await fetch(`${http.url}/readyz`);
      expect(ready.status).toBe(200);
    });
  });

  describe('bounded bulk checks and lookups', () => {
    it(`refuses checkBulk with more than ${MAX_BULK_ITEMS} items, naming the field`, async () => {
      const caller = createCaller({
        ...services,
        authorization: `Bearer ${token}`,
        requestId: 'b',
      });
      const item = { resource: 'user:abuser', permission: 'view_profile' } as const;
      await expect(
        caller.authz.checkBulk({ items: Array.from({ length: MAX_BULK_ITEMS }, () => item) }),
      ).resolves.toMatchObject({ results: Array(MAX_BULK_ITEMS).fill({ allowed: true }) });
      await expect(
        caller.authz.checkBulk({ items: Array.from({ length: MAX_BULK_ITEMS + 1 }, () => item) }),
      ).rejects.toMatchObject({
        code: 'BAD_REQUEST',
        message: expect.stringContaining('items') as unknown,
      });
    });

    it(`refuses a lookup limit over ${MAX_LOOKUP_LIMIT}, naming the field`, async () => {
      const caller = createCaller({
        ...services,
        authorization: `Bearer ${token}`,
        requestId: 'l',
      });
      await expect(
        caller.authz.lookupResources({
          resourceType: 'organization',
          permission: 'read_settings',
          limit: MAX_LOOKUP_LIMIT,
        }),
      ).resolves.toMatchObject({ resourceIds: [] });
      for (const limit of [MAX_LOOKUP_LIMIT + 1, 0, -1, 1.5]) {
        await expect(
          caller.authz.lookupResources({
            resourceType: 'organization',
            permission: 'read_settings',
            limit,
          }),
        ).rejects.toMatchObject({
          code: 'BAD_REQUEST',
          message: expect.stringContaining('limit') as unknown,
        });
      }
    });
  });
});
