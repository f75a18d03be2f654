import type { AddressInfo } from 'node:net';
import { TRPCError } from '@trpc/server';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer } from '../../src/server.js';
import type { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { appRouter } from '../../src/trpc/routers/_app.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { tokenFor } from '../../testkit/tokens.js';

/**
 * Hostile input against every procedure: arbitrary values and near-valid inputs (one field
 * broken). Never INTERNAL_SERVER_ERROR, never a write from an input that was refused, and the
 * service still healthy afterwards.
 */

type Procedure = (input: unknown) => Promise<unknown>;

/** A valid input for each procedure, over the objects the suite creates. */
const TEMPLATES: Record<string, Record<string, unknown>> = {
  'org.create': { orgId: 'fz-new' },
  'org.addMember': {
    orgId: 'fz',
    userId: 'fz-bob',
    role: 'member',
    expiresAt: '2999-01-01T00:00:00Z',
  },
  'org.invite': {
    orgId: 'fz',
    userId: 'fz-inv',
    role: 'member',
    expiresAt: '2999-01-01T00:00:00Z',
  },
  'org.acceptInvitation': { orgId: 'fz' },
  'org.declineInvitation': { orgId: 'fz' },
  'org.revokeInvitation': { orgId: 'fz', userId: 'fz-inv' },
  'org.listInvitations': { orgId: 'fz' },
  // Disposable objects: the fuzzer may really leave or delete them.
  'org.leave': { orgId: 'fz-new' },
  'org.delete': { orgId: 'fz-new', cascade: true },
  'org.setMemberRole': { orgId: 'fz', userId: 'fz-bob', role: 'admin' },
  'org.removeMember': { orgId: 'fz', userId: 'fz-bob' },
  'org.transferOwnership': { orgId: 'fz', userId: 'fz-bob' },
  'org.listMembers': { orgId: 'fz' },
  'project.create': { orgId: 'fz', projectId: 'fz-p-new' },
  'project.delete': { projectId: 'fz-p-new' },
  'project.join': { projectId: 'fz-p' },
  'project.addCollaborator': {
    projectId: 'fz-p',
    userId: 'fz-x',
    role: 'member',
    expiresAt: '2999-01-01T00:00:00Z',
  },
  'project.setCollaboratorRole': { projectId: 'fz-p', userId: 'fz-x', role: 'admin' },
  'project.removeCollaborator': { projectId: 'fz-p', userId: 'fz-x' },
  'project.listCollaborators': { projectId: 'fz-p' },
  'cluster.create': { projectId: 'fz-p', clusterId: 'fz-c-new' },
  'cluster.delete': { clusterId: 'fz-c' },
  'cluster.list': { projectId: 'fz-p' },
  'volume.create': { projectId: 'fz-p', volumeId: 'fz-v-new' },
  'volume.delete': { volumeId: 'fz-v' },
  'volume.list': { projectId: 'fz-p' },
  'user.deleteAccount': {},
  'authz.check': {
    resource: 'project:fz-p',
    permission: 'read_settings',
    subject: 'user:fz-fuzzer',
    consistency: { fullyConsistent: true },
  },
  'authz.checkBulk': { items: [{ resource: 'project:fz-p', permission: 'read_settings' }] },
  'authz.lookupResources': { resourceType: 'project', permission: 'read_settings', limit: 10 },
  'authz.lookupSubjects': { resource: 'project:fz-p', permission: 'read_settings' },
  'authz.explain': { resource: 'project:fz-p', permission: 'read_settings' },
};

const BAD_IDS = [
  '',
  ' ',
  '*',
  'a@b',
  'a#b',
  'a:b',
  'a.b',
  'a b',
  'x'.repeat(1025),
  'ünïcödé',
  '😀',
  '\u0000',
  'line\nbreak',
  'a\u202Eb',
  '%2A',
];
const BAD_REFS = ['project:*', 'nope:x', 'project', ':x', 'project:', 'project:a#b', 'user:a@b'];
const WRONG_TYPES: unknown[] = [0, -1, 1.5, Number.NaN, null, true, [], {}, ['fz'], 10n];

const weirdValue = fc.oneof(
  fc.constantFrom(...BAD_IDS, ...BAD_REFS, ...WRONG_TYPES),
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constant('x'.repeat(200_000)),
  fc.jsonValue(),
  fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true }),
);

const isError = (error: unknown): error is TRPCError => error instanceof TRPCError;

describe('fuzzing every procedure', { timeout: 240_000 }, () => {
  let app: TestApp;
  let acknowledgedWrites = 0;
  let lastRefusal = '';
  const inputsFuzzed: Record<string, number> = {};
  const outcomes = new Map<string, number>();
  const started = performance.now();
  const procedures = Object.entries(
    appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>,
  )
    .map(([path, procedure]) => ({ path, type: procedure._def.type }))
    // A subscription streams until closed: authz.watch has its own input tests
    // (test/integration/watch*.test.ts), not one-shot probes.
    .filter((procedure) => procedure.type !== 'subscription');

  beforeAll(async () => {
    app = await createTestApp();
    // Every write passes through the gateway: counting the acknowledged ones tells whether a
    // refused call wrote anything.
    const gateway: SpiceDbGateway = app.services.spicedb;
    const write = gateway.write.bind(gateway);
    gateway.write = async (...args: Parameters<SpiceDbGateway['write']>) => {
      const token = await write(...args);
      acknowledgedWrites += 1;
      return token;
    };
    const owner = await app.as('fz-owner');
    await owner.org.create({ orgId: 'fz' });
    await owner.org.addMember({ orgId: 'fz', userId: 'fz-fuzzer', role: 'admin' });
    await owner.org.addMember({ orgId: 'fz', userId: 'fz-bob', role: 'member' });
    await owner.project.create({ orgId: 'fz', projectId: 'fz-p' });
    await owner.project.addCollaborator({ projectId: 'fz-p', userId: 'fz-fuzzer', role: 'admin' });
    await owner.cluster.create({ projectId: 'fz-p', clusterId: 'fz-c' });
    await owner.volume.create({ projectId: 'fz-p', volumeId: 'fz-v' });
    // A caller's first request writes its `user:ID#self` relationship before the input is
    // parsed (ensureUser in authedProcedure); one valid call each makes that happen up front.
    for (const userId of ['fz-fuzzer', 'fz-nobody']) {
      await (
        await app.as(userId)
      ).authz.check({ resource: `user:${userId}`, permission: 'view_profile' });
    }
  });
  afterAll(() => {
    app.close();
    const total = Object.values(inputsFuzzed).reduce((a, b) => a + b, 0);
    console.log(
      `[fuzz] ${total} inputs in ${Math.round(performance.now() - started)} ms: ${JSON.stringify(inputsFuzzed)}; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`,
    );
  });

  async function callerFor(path: string, userId = 'fz-fuzzer') {
    // deleteAccount ignores its input: a caller with nothing to lose runs it.
    return app.as(path === 'user.deleteAccount' ? 'fz-nobody' : userId);
  }

  function resolve(caller: unknown, path: string): Procedure {
    return path
      .split('.')
      .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller) as Procedure;
  }

  /** Calls once; asserts no INTERNAL_SERVER_ERROR and no acknowledged write on a refusal. */
  async function probe(
    kind: string,
    path: string,
    input: unknown,
    userId?: string,
  ): Promise<string> {
    inputsFuzzed[kind] = (inputsFuzzed[kind] ?? 0) + 1;
    const call = resolve(await callerFor(path, userId), path);
    const writesBefore = acknowledgedWrites;
    let code = 'ok';
    try {
      await call(input);
    } catch (error) {
      if (!isError(error)) throw new Error(`${path} threw a non-tRPC error`, { cause: error });
      code = error.code;
      lastRefusal = error.message;
      if (code === 'INTERNAL_SERVER_ERROR') {
        throw new Error(`${path} gave INTERNAL_SERVER_ERROR: ${error.message}`, { cause: error });
      }
      if (acknowledgedWrites !== writesBefore) {
        throw new Error(`${path} refused with ${code} but wrote to SpiceDB`, { cause: error });
      }
    }
    outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
    return code;
  }

  async function relationshipCount(): Promise<number> {
    const counts = await Promise.all(
      ['user', 'organization', 'invitation', 'project', 'cluster', 'volume'].map(
        async (resourceType) =>
          (
            await app.services.spicedb.readRelationships(
              { resourceType },
              { kind: 'fullyConsistent' },
            )
          ).length,
      ),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  it('has a template for every procedure', () => {
    expect(procedures.map((p) => p.path).filter((path) => !(path in TEMPLATES))).toEqual([]);
  });

  it('refuses a broken id or reference in every field with BAD_REQUEST naming it, writing nothing', async () => {
    const before = await relationshipCount();
    for (const { path } of procedures) {
      const template = TEMPLATES[path] ?? {};
      for (const [field, value] of Object.entries(template)) {
        if (typeof value !== 'string' || field === 'name' || field === 'permission') continue;
        const isRef = field === 'resource' || field === 'subject';
        const broken = isRef
          ? BAD_REFS
          : field === 'role' || field === 'resourceType'
            ? ['owner', '', 'x'.repeat(5000)]
            : BAD_IDS;
        for (const bad of [...broken, ...WRONG_TYPES]) {
          // The owner may do everything, so no FORBIDDEN can come before the input check.
          const code = await probe('broken field', path, { ...template, [field]: bad }, 'fz-owner');
          const what = `${path} ${field}=${JSON.stringify(String(bad)).slice(0, 40)}`;
          expect(code, what).toBe('BAD_REQUEST');
          expect(lastRefusal, what).toContain(field);
        }
      }
    }
    expect(await relationshipCount()).toBe(before);
  });

  it('names the field in the message of a refused input', async () => {
    const caller = await callerFor('org.addMember');
    await expect(
      caller.org.addMember({ orgId: 'fz', userId: 'a@b', role: 'member' }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('userId') as unknown,
    });
    await expect(
      caller.authz.check({ resource: 'nope:x', permission: 'read_settings' } as never),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('resource') as unknown,
    });
    // A token that is no ZedToken: refused, or overridden by this instance's own fresher one.
    for (const atLeastAsFresh of ['not-a-zedtoken', 'GhUKEzE3', 'x'.repeat(4096)]) {
      const code = await probe('broken field', 'authz.check', {
        resource: 'project:fz-p',
        permission: 'read_settings',
        consistency: { atLeastAsFresh },
      });
      expect(['ok', 'BAD_REQUEST']).toContain(code);
    }
  });

  it('survives arbitrary values as input to every procedure', async () => {
    for (const { path } of procedures) {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            weirdValue,
            fc.dictionary(
              fc.constantFrom(
                ...Object.keys(TEMPLATES[path] ?? {}),
                '__proto__',
                'constructor',
                'extra',
              ),
              weirdValue,
            ),
          ),
          async (input) => {
            await probe('arbitrary', path, input);
          },
        ),
        { numRuns: 40 },
      );
    }
  });

  it('survives near-valid inputs (one field broken, or an extra field) to every procedure', async () => {
    for (const { path } of procedures) {
      const template = TEMPLATES[path] ?? {};
      const fields = [...Object.keys(template), 'extra', '__proto__'];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...fields), weirdValue, async (field, value) => {
          const input: Record<string, unknown> = { ...template };
          Object.defineProperty(input, field, { value, enumerable: true, configurable: true });
          await probe('near-valid', path, input);
        }),
        { numRuns: 60 },
      );
    }
  });

  it('answers hostile HTTP requests and tokens with a 4xx, and stays healthy', async () => {
    const server = createHttpServer(app.services);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    const base = `http://127.0.0.1:${port}`;
    const good = await tokenFor('fz-fuzzer');
    const paths = procedures.map((p) => p.path);
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...paths, 'nope', 'org.create,org.create', 'org..create', '%00'),
          fc.constantFrom('GET', 'POST'),
          fc.oneof(
            fc.string(),
            fc.jsonValue().map((v) => JSON.stringify(v)),
          ),
          fc.oneof(
            fc.constant(`Bearer ${good}`),
            fc.string().map((s) => `Bearer ${s}`),
            fc.string(),
            fc.constant(`Bearer ${good.slice(0, -2)}`),
            fc.constant(`Bearer ${good.split('.').slice(0, 2).join('.')}.`),
          ),
          async (path, method, payload, authorization) => {
            inputsFuzzed.http = (inputsFuzzed.http ?? 0) + 1;
            const writesBefore = acknowledgedWrites;
            const url =
              method === 'GET'
                ? `${base}/trpc/${path}?input=${encodeURIComponent(payload)}`
                : `${base}/trpc/${path}`;
            const headers: Record<string, string> = { 'content-type': 'application/json' };
            if (/^[\x20-\x7e]*$/.test(authorization)) headers.authorization = authorization;
            const response = await fetch(url, {
              method,
              headers,
              ...(method === 'POST' ? { body: payload } : {}),
            });
            const text = await response.text();
            expect(response.status, `${method} ${path} ${text.slice(0, 200)}`).toBeLessThan(500);
            if (response.status >= 400) expect(acknowledgedWrites).toBe(writesBefore);
          },
        ),
        { numRuns: 300 },
      );
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      const check = await fetch(
        `${base}/trpc/authz.check?input=${encodeURIComponent(JSON.stringify({ resource: 'project:fz-p', permission: 'read_settings' }))}`,
        { headers: { authorization: `Bearer ${good}` } },
      );
      expect(check.status).toBe(200);
      expect(await check.json()).toMatchObject({ result: { data: { allowed: true } } });
    } finally {
      await new Promise((done) => server.close(done));
    }
  });
});
