import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/app.js';
import {
  AuditTrail,
  jsonLinesSink,
  MAX_TARGET_VALUE_LENGTH,
  type AuditRecord,
} from '../../src/audit/audit-trail.js';
import { createHttpServer } from '../../src/server.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import type { Services } from '../../src/trpc/context.js';
import { appRouter } from '../../src/trpc/routers/_app.js';
import { createCallerFactory } from '../../src/trpc/trpc.js';
import { testEnv } from '../support/app.js';
import { freshSpiceDb } from '../support/spicedb.js';
import { tokenFor } from '../../testkit/tokens.js';

const createCaller = createCallerFactory(appRouter);

describe('audit trail: every mutation, refusals included, as one structured record', () => {
  let connection: SpiceDbConnection;
  let services: Services;
  const records: AuditRecord[] = [];

  beforeAll(async () => {
    connection = await freshSpiceDb();
    services = createServices(testEnv(), connection, {}, (record) => records.push(record));
  });
  afterAll(() => connection.close());

  const as = async (userId: string, requestId: string) =>
    createCaller({
      ...services,
      authorization: `Bearer ${await tokenFor(userId)}`,
      requestId,
    });

  /** The records one call produced. */
  async function recordsOf(call: () => Promise<unknown>): Promise<AuditRecord[]> {
    const before = records.length;
    await call().catch(() => undefined);
    return records.slice(before);
  }

  it('records an acknowledged mutation with its caller, target and ZedToken', async () => {
    const alice = await as('audit-alice', 'req-create');
    let token = '';
    const written = await recordsOf(async () => {
      token = (await alice.org.create({ orgId: 'audited' })).zedToken;
    });
    expect(written).toEqual([
      {
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
        requestId: 'req-create',
        caller: 'audit-alice',
        operation: 'org.create',
        target: { orgId: 'audited' },
        zedToken: token,
        outcome: 'ok',
      },
    ]);
    expect(token).not.toBe('');
  });

  it('records refusals with their code and no ZedToken', async () => {
    const alice = await as('audit-alice', 'req-alice');
    await alice.org.addMember({ orgId: 'audited', userId: 'audit-bob', role: 'member' });
    const bob = await as('audit-bob', 'req-bob');

    const forbidden = await recordsOf(() =>
      bob.org.addMember({ orgId: 'audited', userId: 'audit-carol', role: 'admin' }),
    );
    expect(forbidden).toMatchObject([
      {
        caller: 'audit-bob',
        operation: 'org.addMember',
        target: { orgId: 'audited', userId: 'audit-carol', role: 'admin' },
        zedToken: null,
        outcome: 'FORBIDDEN',
      },
    ]);

    const ownerProtected = await recordsOf(() =>
      alice.org.setMemberRole({ orgId: 'audited', userId: 'audit-alice', role: 'member' }),
    );
    expect(ownerProtected).toMatchObject([
      { caller: 'audit-alice', operation: 'org.setMemberRole', outcome: 'PRECONDITION_FAILED' },
    ]);

    const missing = await recordsOf(() => alice.cluster.delete({ clusterId: 'no-such-cluster' }));
    expect(missing).toMatchObject([
      {
        operation: 'cluster.delete',
        target: { clusterId: 'no-such-cluster' },
        outcome: 'FORBIDDEN',
      },
    ]);

    const badInput = await recordsOf(() =>
      alice.org.removeMember({ orgId: 'audited', userId: 'user:*' }),
    );
    expect(badInput).toMatchObject([
      {
        caller: 'audit-alice',
        operation: 'org.removeMember',
        target: { orgId: 'audited', userId: 'user:*' },
        outcome: 'BAD_REQUEST',
      },
    ]);

    const wrongType = await recordsOf(() =>
      alice.org.removeMember({ orgId: 42, userId: null } as never),
    );
    expect(wrongType).toMatchObject([
      { target: { orgId: '<number>', userId: '<null>' }, outcome: 'BAD_REQUEST' },
    ]);
  });

  it('records refused tokens with no caller', async () => {
    const forged = createCaller({
      ...services,
      authorization: `Bearer ${await tokenFor('audit-alice', { secret: 'not-the-secret' })}`,
      requestId: 'req-forged',
    });
    const refused = await recordsOf(() => forged.org.create({ orgId: 'forged-org' }));
    expect(refused).toMatchObject([
      {
        requestId: 'req-forged',
        caller: null,
        operation: 'org.create',
        target: { orgId: 'forged-org' },
        zedToken: null,
        outcome: 'UNAUTHORIZED',
      },
    ]);
  });

  it('records every mutation procedure, and no query', async () => {
    const anonymous = createCaller({ ...services, authorization: undefined, requestId: 'anon' });
    const procedures = Object.entries(appRouter._def.procedures as Record<string, unknown>);
    const mutations = procedures
      .filter(([, procedure]) => (procedure as { _def: { type: string } })._def.type === 'mutation')
      .map(([path]) => path);
    const queries = procedures
      .filter(([, procedure]) => (procedure as { _def: { type: string } })._def.type === 'query')
      .map(([path]) => path);
    expect(mutations.length).toBeGreaterThanOrEqual(15);
    const call = (path: string) => {
      const fn = path
        .split('.')
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], anonymous);
      return (fn as (input: unknown) => Promise<unknown>)({});
    };
    for (const path of mutations) {
      expect(await recordsOf(() => call(path)), path).toMatchObject([
        { operation: path, caller: null, outcome: 'UNAUTHORIZED' },
      ]);
    }
    for (const path of queries) {
      expect(await recordsOf(() => call(path)), path).toEqual([]);
    }
  });

  it('records rate-limited mutations as TOO_MANY_REQUESTS', async () => {
    const limited = createServices(
      testEnv({ RATE_LIMIT_PER_SECOND: '0.001', RATE_LIMIT_BURST: '1' }),
      connection,
      {},
      (record) => records.push(record),
    );
    const caller = createCaller({
      ...limited,
      authorization: `Bearer ${await tokenFor('audit-hasty')}`,
      requestId: 'req-hasty',
    });
    const first = await recordsOf(() => caller.org.create({ orgId: 'hasty-1' }));
    const second = await recordsOf(() => caller.org.create({ orgId: 'hasty-2' }));
    expect(first).toMatchObject([{ outcome: 'ok', caller: 'audit-hasty' }]);
    expect(second).toMatchObject([
      { outcome: 'TOO_MANY_REQUESTS', caller: 'audit-hasty', target: { orgId: 'hasty-2' } },
    ]);
  });

  it('writes one parseable JSON line per record, with huge targets cut short', async () => {
    const lines: string[] = [];
    const sink = jsonLinesSink({ write: (chunk: string) => lines.push(chunk) });
    const lineServices = createServices(testEnv(), connection, {}, sink);
    const caller = createCaller({
      ...lineServices,
      authorization: `Bearer ${await tokenFor('audit-lines')}`,
      requestId: 'req-lines',
    });
    await caller.org.create({ orgId: 'x'.repeat(100_000) }).catch(() => undefined);
    await caller.org
      .create({ orgId: 'evil\n{"audit":true,"outcome":"ok"}' })
      .catch(() => undefined);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toContain('\n');
      const parsed = JSON.parse(line) as AuditRecord & { audit: boolean };
      expect(parsed).toMatchObject({ audit: true, caller: 'audit-lines', outcome: 'BAD_REQUEST' });
    }
    const first = JSON.parse(lines[0] as string) as AuditRecord;
    expect(first.target.orgId?.length).toBeLessThan(MAX_TARGET_VALUE_LENGTH + 40);
    expect(first.target.orgId).toContain('(100000 chars)');
  });

  it('carries the HTTP request id into the record', async () => {
    const server = createHttpServer(services);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const before = records.length;
      const response = await fetch(`http://127.0.0.1:${port}/trpc/org.create`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await tokenFor('audit-http')}`,
          'content-type': 'application/json',
          'x-request-id': 'http-req-42',
        },
        body: JSON.stringify({ orgId: 'audited-over-http' }),
      });
      expect(response.status).toBe(200);
      expect(records.slice(before)).toMatchObject([
        { requestId: 'http-req-42', caller: 'audit-http', operation: 'org.create', outcome: 'ok' },
      ]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('keeps serving when the sink throws', async () => {
    const throwing = createServices(testEnv(), connection, {}, () => {
      throw new Error('disk full');
    });
    expect(throwing.audit).toBeInstanceOf(AuditTrail);
    const caller = createCaller({
      ...throwing,
      authorization: `Bearer ${await tokenFor('audit-sinkless')}`,
      requestId: 'req-sinkless',
    });
    await expect(caller.org.create({ orgId: 'sinkless' })).resolves.toMatchObject({
      zedToken: expect.any(String) as unknown,
    });
  });
});
