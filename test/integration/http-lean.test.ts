import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/app.js';
import { createHttpServer } from '../../src/server.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import type { Services } from '../../src/trpc/context.js';
import { testEnv } from '../support/app.js';
import { freshSpiceDb } from '../support/spicedb.js';
import { tokenFor } from '../../testkit/tokens.js';

async function listen(services: Services, httpLayer: 'lean' | 'standalone') {
  const server = createHttpServer(services, { httpLayer });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const q = (value: unknown) => encodeURIComponent(JSON.stringify(value));
const check = (resource: string, extra: Record<string, unknown> = {}) => ({
  resource,
  permission: 'view_profile',
  ...extra,
});

/** Requests whose answers must be the same whichever HTTP layer serves them. */
const requests: Array<[string, string, { token?: 'user' | 'backend' | 'forged' | 'none' }]> = [
  ['one check', `/trpc/authz.check?input=${q(check('user:alice'))}`, {}],
  [
    'a refused check',
    `/trpc/authz.check?input=${q(check('user:bob', { subject: 'user:bob' }))}`,
    {},
  ],
  [
    'a backend check of another subject',
    `/trpc/authz.check?input=${q(check('user:bob', { subject: 'user:bob' }))}`,
    { token: 'backend' },
  ],
  ['bad input', `/trpc/authz.check?input=${q({ resource: 'user:*', permission: 'nope' })}`, {}],
  ['no input', '/trpc/authz.check', {}],
  ['input that is not JSON', '/trpc/authz.check?input=%7Bnope', {}],
  [
    'a batch',
    `/trpc/authz.check,authz.check?batch=1&input=${q({ 0: check('user:alice'), 1: check('user:alice') })}`,
    {},
  ],
  [
    'a mixed batch (207)',
    `/trpc/authz.check,authz.check?batch=1&input=${q({ 0: check('user:alice'), 1: { resource: 'x' } })}`,
    {},
  ],
  [
    'a batch input that is an array',
    `/trpc/authz.check?batch=1&input=${q([check('user:alice')])}`,
    {},
  ],
  ['an unknown procedure', `/trpc/authz.nothing?input=${q({})}`, {}],
  ['a mutation over GET', `/trpc/org.create?input=${q({ orgId: 'o1' })}`, {}],
  [
    'a lookup',
    `/trpc/authz.lookupResources?input=${q({ resourceType: 'project', permission: 'view_name' })}`,
    {},
  ],
  [
    'a listing of an unknown organization',
    `/trpc/org.listMembers?input=${q({ orgId: 'nowhere' })}`,
    {},
  ],
  ['no token', `/trpc/authz.check?input=${q(check('user:alice'))}`, { token: 'none' }],
  ['a forged token', `/trpc/authz.check?input=${q(check('user:alice'))}`, { token: 'forged' }],
  ['a malformed path encoding', `/trpc/authz.%E0%A4%A?input=${q({})}`, {}],
];

describe('the lean HTTP layer answers exactly as tRPC’s standalone adapter', () => {
  let connection: SpiceDbConnection;
  let lean: Awaited<ReturnType<typeof listen>>;
  let standalone: Awaited<ReturnType<typeof listen>>;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    connection = await freshSpiceDb();
    const services = createServices(testEnv(), connection);
    lean = await listen(services, 'lean');
    standalone = await listen(services, 'standalone');
    tokens.user = await tokenFor('alice');
    tokens.backend = await tokenFor('svc', { scope: BACKEND_SCOPE });
    tokens.forged = await tokenFor('alice', { secret: 'not-the-secret-not-the-secret' });
  });
  afterAll(async () => {
    await lean.close();
    await standalone.close();
    connection.close();
  });

  it.each(requests)('%s', async (_label, path, { token = 'user' }) => {
    const headers: Record<string, string> =
      token === 'none' ? {} : { authorization: `Bearer ${tokens[token] ?? ''}` };
    const answer = async (base: string) => {
      const response = await fetch(`${base}${path}`, { headers });
      const body = await response.text();
      return {
        status: response.status,
        contentType: response.headers.get('content-type'),
        vary: response.headers.get('vary'),
        retryAfter: response.headers.get('retry-after'),
        // ZedTokens name the revision each answer was read at; everything else must match.
        body: JSON.parse(body.replace(/"checkedAt":"[^"]*"/g, '"checkedAt":"-"')) as unknown,
      };
    };
    const [fromLean, fromAdapter] = [await answer(lean.url), await answer(standalone.url)];
    expect(fromLean).toEqual(fromAdapter);
  });

  it('verifies the token of a batched request once, whatever the number of calls', async () => {
    let verifications = 0;
    const services = createServices(testEnv(), connection);
    const verify = services.verifyToken;
    const counted = listen(
      {
        ...services,
        verifyToken: (authorization) => {
          verifications += 1;
          return verify(authorization);
        },
      },
      'lean',
    );
    const server = await counted;
    try {
      const calls = Array.from({ length: 10 }, () => check('user:alice'));
      const response = await fetch(
        `${server.url}/trpc/${Array(10).fill('authz.check').join(',')}?batch=1&input=${q({ ...calls })}`,
        { headers: { authorization: `Bearer ${tokens.user ?? ''}` } },
      );
      expect(response.status).toBe(200);
      expect(verifications).toBe(1);
    } finally {
      await server.close();
    }
  });
});
