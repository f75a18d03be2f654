import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matrixCells, PERSONAS, SAMPLE_SETUP, userOf } from '../../testkit/matrix.js';
import type { ReadConsistency } from '../../src/spicedb/consistency.js';
import { toTRPCError } from '../../src/trpc/spicedb-errors.js';
import { SpiceDbGateway, type CheckItem } from '../../src/spicedb/gateway.js';
import { touch } from '../../src/spicedb/proto.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import { createTestApp, type TestApp } from '../support/app.js';

type Caller = Awaited<ReturnType<TestApp['as']>>;

/** The SAMPLE_SETUP operations, called through the service's procedures (zod validates inputs). */
function runStep(caller: Caller, op: string, input: Record<string, string>) {
  const call = {
    'org.create': () => caller.org.create(input as never),
    'org.addMember': () => caller.org.addMember(input as never),
    'project.create': () => caller.project.create(input as never),
    'project.join': () => caller.project.join(input as never),
    'project.addCollaborator': () => caller.project.addCollaborator(input as never),
    'project.setCollaboratorRole': () => caller.project.setCollaboratorRole(input as never),
    'cluster.create': () => caller.cluster.create(input as never),
    'volume.create': () => caller.volume.create(input as never),
  }[op];
  if (call === undefined) throw new Error(`SAMPLE_SETUP uses an operation this test lacks: ${op}`);
  return call();
}

/** One check's outcome: the answer, or the tRPC code its error maps to. */
type Outcome = { allowed: boolean } | { code: string };

const outcomeOf = async (answer: Promise<{ allowed: boolean }>): Promise<Outcome> => {
  try {
    return { allowed: (await answer).allowed };
  } catch (error) {
    return { code: toTRPCError(error).code };
  }
};

/** A fixed shuffle, so a failure reproduces. */
function shuffled<T>(items: T[], seed = 7): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i -= 1) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const cells = matrixCells();
const asItem = (cell: (typeof cells)[number]): CheckItem => ({
  resource: cell.resource,
  permission: cell.permission,
  subject: { type: 'user', id: userOf(cell.persona) },
});

/** Items SpiceDB refuses: each must fail alone, with the code a lone CheckPermission gets. */
const INVALID: CheckItem[] = [
  {
    resource: { type: 'project', id: 'acme_ml' },
    permission: 'no_such_permission',
    subject: { type: 'user', id: 'owner' },
  },
  {
    resource: { type: 'spaceship', id: 'x' },
    permission: 'fly',
    subject: { type: 'user', id: 'owner' },
  },
  {
    resource: { type: 'project', id: 'not a valid id!' },
    permission: 'read_settings',
    subject: { type: 'user', id: 'owner' },
  },
];

describe('check coalescing against a real SpiceDB', () => {
  let app: TestApp;
  let lastToken: string;
  /** The reference: one CheckPermission per check, never coalesced. */
  let oneByOne: SpiceDbGateway;

  beforeAll(async () => {
    app = await createTestApp();
    for (const step of SAMPLE_SETUP) {
      ({ zedToken: lastToken } = await runStep(await app.as(step.actor), step.op, step.input));
    }
    // Every persona signs in once, as callers do before they check.
    for (const persona of PERSONAS) {
      await (
        await app.as(userOf(persona))
      ).authz.check({
        resource: `user:${userOf(persona)}`,
        permission: 'view_profile',
      });
    }
    oneByOne = new SpiceDbGateway(app.connection, { timeoutMs: 10_000, checkBatching: false });
  });
  afterAll(() => app.close());

  it('answers the whole matrix, duplicated, in mixed consistencies and with invalid items, exactly as one call per check', async () => {
    const gateway = app.services.spicedb;
    const consistencies: ReadConsistency[] = [
      { kind: 'fullyConsistent' },
      { kind: 'atLeastAsFresh', token: lastToken },
      gateway.consistency(),
    ];
    const asked: Array<{ item: CheckItem; consistency: ReadConsistency; expected?: boolean }> = [];
    for (const consistency of consistencies) {
      for (const cell of cells) {
        // Every check twice: the second shares the first's answer.
        asked.push({ item: asItem(cell), consistency, expected: cell.expected });
        asked.push({ item: asItem(cell), consistency, expected: cell.expected });
      }
      for (const item of INVALID) asked.push({ item, consistency });
    }
    const order = shuffled(asked);

    // One CheckPermission per check, eight at a time.
    const reference: Outcome[] = new Array<Outcome>(order.length);
    let next = 0;
    const worker = async () => {
      for (let index = next++; index < order.length; index = next++) {
        const { item, consistency } = order[index] as (typeof order)[number];
        reference[index] = await outcomeOf(oneByOne.check(item, consistency));
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    // The reference itself agrees with the seed's matrix.
    order.forEach(({ expected }, index) => {
      if (expected !== undefined) expect(reference[index]).toEqual({ allowed: expected });
    });

    const before = gateway.stats;
    const coalesced = await Promise.all(
      order.map(({ item, consistency }) => outcomeOf(gateway.check(item, consistency))),
    );
    const after = gateway.stats;

    expect(coalesced).toEqual(reference);
    const checksAsked = after.checksAsked - before.checksAsked;
    const spicedbCalls = after.checkCalls - before.checkCalls;
    expect(checksAsked).toBe(order.length);
    expect(after.checksShared - before.checksShared).toBeGreaterThanOrEqual(cells.length * 3);
    // One bulk call per consistency, plus the halvings that isolate the invalid id.
    expect(spicedbCalls).toBeLessThan(checksAsked / 20);
  });

  it('fails only the invalid item, with the code a lone check gets, and its neighbours answer', async () => {
    const gateway = app.services.spicedb;
    const consistency: ReadConsistency = { kind: 'fullyConsistent' };
    const neighbours = cells.slice(0, 20).map(asItem);
    for (const invalid of INVALID) {
      const alone = await outcomeOf(oneByOne.check(invalid, consistency));
      expect(alone).toHaveProperty('code');
      const together = await Promise.all(
        [...neighbours.slice(0, 10), invalid, ...neighbours.slice(10)].map((item) =>
          outcomeOf(gateway.check(item, consistency)),
        ),
      );
      expect(together[10]).toEqual(alone);
      expect(together.filter((o) => 'allowed' in o)).toHaveLength(neighbours.length);
      expect(together.slice(0, 10)).toEqual(
        cells.slice(0, 10).map((cell) => ({ allowed: cell.expected })),
      );
    }
  });

  it('gives the same answers through authz.check callers asking concurrently, in fewer SpiceDB calls', async () => {
    const backend = await app.as('coalescing_backend', BACKEND_SCOPE);
    const gateway = app.services.spicedb;
    await backend.authz.check({ resource: 'organization:acme', permission: 'read_settings' });
    const before = gateway.stats;
    const answers = await Promise.all(
      [...cells, ...cells].map((cell) =>
        backend.authz.check({
          resource: `${cell.resource.type}:${cell.resource.id}`,
          permission: cell.permission as never,
          subject: `user:${userOf(cell.persona)}`,
        }),
      ),
    );
    const after = gateway.stats;
    expect(answers.map((a) => a.allowed)).toEqual([...cells, ...cells].map((c) => c.expected));
    expect(after.checksAsked - before.checksAsked).toBe(cells.length * 2);
    expect(after.checkCalls - before.checkCalls).toBeLessThanOrEqual(10);
    // Every answer of one coalesced call carries the revision SpiceDB checked at.
    expect(answers.every((a) => a.checkedAt !== '')).toBe(true);
  });
});

describe('lookupResources paged over a 10,000-result set', () => {
  const PROJECTS = 10_050;
  let app: TestApp;
  let written: string;

  beforeAll(async () => {
    app = await createTestApp();
    const gateway = app.services.spicedb;
    written = await gateway.write([
      touch({
        resourceType: 'organization',
        resourceId: 'big',
        relation: 'member',
        subjectType: 'user',
        subjectId: 'reader',
      }),
    ]);
    for (let start = 0; start < PROJECTS; start += 1_000) {
      const updates = [];
      for (let i = start; i < Math.min(PROJECTS, start + 1_000); i += 1) {
        updates.push(
          touch({
            resourceType: 'project',
            resourceId: `p${i}`,
            relation: 'organization',
            subjectType: 'organization',
            subjectId: 'big',
          }),
        );
      }
      written = await gateway.write(updates);
    }
  });
  afterAll(() => app.close());

  const args = {
    resourceType: 'project',
    permission: 'view_name',
    subject: { type: 'user', id: 'reader' },
    limit: 1_000,
  };

  it('pages through every result once, one page at a time, continuing one SpiceDB stream', async () => {
    const gateway = app.services.spicedb;
    const consistency: ReadConsistency = { kind: 'atLeastAsFresh', token: written };
    const before = gateway.stats;
    const seen = new Set<string>();
    const pageSizes: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await gateway.lookupResources(
        cursor === undefined ? args : { ...args, cursor },
        consistency,
      );
      pageSizes.push(page.resourceIds.length);
      for (const id of page.resourceIds) seen.add(id);
      cursor = page.cursor;
      // While a page waits for the next, SpiceDB's stream is paused, never drained.
      expect(gateway.stats.lookupStreamsParked).toBe(cursor === undefined ? 0 : 1);
    } while (cursor !== undefined && pageSizes.length < 20);
    expect(seen.size).toBe(PROJECTS);
    expect(pageSizes).toEqual([...Array<number>(10).fill(1_000), 50]);
    expect(gateway.stats.lookupStreams - before.lookupStreams).toBe(1);
  });

  it('continues from a cursor on an instance that holds no open stream, with the same results', async () => {
    const consistency: ReadConsistency = { kind: 'atLeastAsFresh', token: written };
    const first = await app.services.spicedb.lookupResources(args, consistency);
    expect(first.cursor).toBeDefined();
    const other = new SpiceDbGateway(app.connection, { timeoutMs: 10_000 });
    const fromOther = await other.lookupResources(
      { ...args, cursor: first.cursor as string },
      consistency,
    );
    const fromSame = await app.services.spicedb.lookupResources(
      { ...args, cursor: first.cursor as string },
      consistency,
    );
    expect(fromOther.resourceIds).toHaveLength(1_000);
    expect(fromOther.resourceIds).toEqual(fromSame.resourceIds);
    expect(fromOther.resourceIds.some((id) => first.resourceIds.includes(id))).toBe(false);
    expect(other.stats.lookupStreams).toBe(1);
  });
});
