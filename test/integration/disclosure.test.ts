import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE, userOf, type Persona } from '../../testkit/matrix.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import type { TestApp } from '../support/app.js';
import { createTestApp } from '../support/app.js';
import { buildSampleOrg } from '../support/sample-org.js';

/**
 * What a caller may learn (CONTRACT): lookupSubjects answers only with users the caller could
 * find through org.listMembers / project.listCollaborators; refusals name no object the caller
 * may not see; a malformed or foreign ZedToken is BAD_REQUEST naming `consistency` everywhere.
 */
let app: TestApp;
let other: TestApp;
let ownToken: string;
beforeAll(async () => {
  const built = await buildSampleOrg();
  app = built.app;
  ownToken = built.zedToken;
  other = await createTestApp();
});
afterAll(() => {
  app.close();
  other.close();
});

const as = (persona: Persona) => app.as(userOf(persona));
const sorted = (ids: readonly string[]) => [...ids].sort();

describe('authz.lookupSubjects answers only with users the caller could list', () => {
  it('an external collaborator learns the project collaborators, not the organization members', async () => {
    const { subjectIds } = await (
      await as('external_member')
    ).authz.lookupSubjects({ resource: `project:${SAMPLE.projectId}`, permission: 'view_name' });
    const { collaborators } = await (
      await as('external_member')
    ).project.listCollaborators({ projectId: SAMPLE.projectId });
    expect(sorted(subjectIds)).toEqual(sorted(collaborators.map((c) => c.userId)));
    expect(subjectIds).not.toContain(userOf('org_member_outside'));
    expect(subjectIds).not.toContain(userOf('org_admin_not_joined'));
  });

  it('a member with no project role does not learn the external collaborators', async () => {
    const outside = await as('org_member_outside');
    const { subjectIds } = await outside.authz.lookupSubjects({
      resource: `organization:${SAMPLE.orgId}`,
      permission: 'view_name',
    });
    const { members } = await outside.org.listMembers({ orgId: SAMPLE.orgId });
    expect(sorted(subjectIds)).toEqual(sorted(members.map((m) => m.userId)));
    expect(subjectIds).not.toContain(userOf('external_admin'));
  });

  it('a project collaborator who reads both lists learns both, as through the listings', async () => {
    const inProject = await as('org_member_in_project');
    const { subjectIds } = await inProject.authz.lookupSubjects({
      resource: `organization:${SAMPLE.orgId}`,
      permission: 'view_name',
    });
    expect(subjectIds).toContain(userOf('external_admin'));
    expect(subjectIds).toContain(userOf('org_member_outside'));
  });

  it('a backend caller learns every holder', async () => {
    const backend = await app.as('backend_service', BACKEND_SCOPE);
    const { subjectIds } = await backend.authz.lookupSubjects({
      resource: `project:${SAMPLE.projectId}`,
      permission: 'view_name',
    });
    expect(subjectIds).toContain(userOf('org_member_outside'));
    expect(subjectIds).toContain(userOf('external_member'));
  });
});

describe('refusals name no object the caller may not see', () => {
  it.each([
    [
      'org.addMember',
      (c: Awaited<ReturnType<typeof as>>) =>
        c.org.addMember({ orgId: SAMPLE.orgId, userId: 'x', role: 'member' }),
    ],
    [
      'org.listMembers',
      (c: Awaited<ReturnType<typeof as>>) => c.org.listMembers({ orgId: SAMPLE.orgId }),
    ],
    [
      'project.join',
      (c: Awaited<ReturnType<typeof as>>) => c.project.join({ projectId: SAMPLE.projectId }),
    ],
    [
      'project.listCollaborators',
      (c: Awaited<ReturnType<typeof as>>) =>
        c.project.listCollaborators({ projectId: SAMPLE.otherProjectId }),
    ],
    [
      'cluster.delete',
      (c: Awaited<ReturnType<typeof as>>) => c.cluster.delete({ clusterId: SAMPLE.clusterId }),
    ],
    [
      'volume.delete',
      (c: Awaited<ReturnType<typeof as>>) => c.volume.delete({ volumeId: SAMPLE.volumeId }),
    ],
    [
      'authz.lookupSubjects',
      (c: Awaited<ReturnType<typeof as>>) =>
        c.authz.lookupSubjects({ resource: `cluster:${SAMPLE.clusterId}`, permission: 'view' }),
    ],
  ])('%s by a stranger is FORBIDDEN without the ids', async (_name, attempt) => {
    const error = await attempt(await as('stranger')).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error?.code).toBe('FORBIDDEN');
    for (const id of Object.values(SAMPLE)) expect(error?.message).not.toContain(id);
  });

  it('names the object to a caller who may see it', async () => {
    const refused = (await as('org_member_outside')).org.addMember({
      orgId: SAMPLE.orgId,
      userId: 'x',
      role: 'member',
    });
    await expect(refused).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringContaining(`organization:${SAMPLE.orgId}`) as string,
    });
  });
});

describe('authz.explain of a refusal names only objects the caller may see', () => {
  it('a stranger learns neither the project nor the organization of a cluster', async () => {
    const answer = await (
      await as('stranger')
    ).authz.explain({ resource: `cluster:${SAMPLE.clusterId}`, permission: 'delete' });
    expect(answer.allowed).toBe(false);
    const text = JSON.stringify({ ...answer, resource: undefined, checkedAt: undefined });
    for (const id of [SAMPLE.orgId, SAMPLE.projectId]) {
      expect(text).not.toMatch(new RegExp(`:${id}(?![A-Za-z0-9_])`));
    }
    expect(answer.explanation).toContain('nothing the caller can see would grant it');
  });

  it('a project member still learns the relations of objects it sees', async () => {
    const answer = await (
      await as('org_member_in_project')
    ).authz.explain({ resource: `cluster:${SAMPLE.clusterId}`, permission: 'delete' });
    expect(answer.missing).toContain(`project:${SAMPLE.projectId}#admin`);
  });

  it('a backend caller gets the whole answer', async () => {
    const backend = await app.as('backend_service', BACKEND_SCOPE);
    const answer = await backend.authz.explain({
      resource: `cluster:${SAMPLE.clusterId}`,
      permission: 'delete',
      subject: `user:${userOf('stranger')}`,
    });
    expect(answer.missing).toContain(`project:${SAMPLE.projectId}#admin`);
  });
});

describe('a malformed or foreign ZedToken is BAD_REQUEST naming consistency', () => {
  const sample = { resource: `project:${SAMPLE.projectId}`, permission: 'read_settings' } as const;
  const calls = (consistency: { atLeastAsFresh: string }) => {
    type Caller = Awaited<ReturnType<typeof as>>;
    const withIt = <T extends object>(input: T) => ({ ...input, consistency });
    return {
      'authz.check': (c: Caller) => c.authz.check(withIt(sample)),
      'authz.checkBulk': (c: Caller) => c.authz.checkBulk(withIt({ items: [sample, sample] })),
      'authz.lookupResources': (c: Caller) =>
        c.authz.lookupResources(withIt({ resourceType: 'project', permission: 'view_name' })),
      'authz.lookupSubjects': (c: Caller) => c.authz.lookupSubjects(withIt(sample)),
      'authz.explain': (c: Caller) => c.authz.explain(withIt(sample)),
      'org.listMembers': (c: Caller) => c.org.listMembers(withIt({ orgId: SAMPLE.orgId })),
      'project.listCollaborators': (c: Caller) =>
        c.project.listCollaborators(withIt({ projectId: SAMPLE.projectId })),
      'org.addMember': (c: Caller) =>
        c.org.addMember(withIt({ orgId: SAMPLE.orgId, userId: 'newcomer', role: 'member' })),
      'org.create': (c: Caller) => c.org.create(withIt({ orgId: 'token_org' })),
      'project.join': (c: Caller) => c.project.join(withIt({ projectId: SAMPLE.otherProjectId })),
      'cluster.create': (c: Caller) =>
        c.cluster.create(withIt({ projectId: SAMPLE.projectId, clusterId: 'token_cluster' })),
      'user.deleteAccount': (c: Caller) =>
        c.user.deleteAccount(withIt({}) as unknown as Record<string, never>),
    };
  };

  const expectRefused = async (token: string, pattern: RegExp) => {
    const owner = await as('owner');
    for (const [name, call] of Object.entries(calls({ atLeastAsFresh: token }))) {
      const error = await call(owner).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      );
      expect({ name, code: error?.code }).toEqual({ name, code: 'BAD_REQUEST' });
      expect(error?.message, name).toMatch(pattern);
    }
    // Nothing was written by the refused mutations.
    const { members } = await owner.org.listMembers({ orgId: SAMPLE.orgId });
    expect(members.map((m) => m.userId)).not.toContain('newcomer');
  };

  it('garbage, in every procedure, before SpiceDB is asked', async () => {
    const before = app.services.spicedb.stats.calls.CheckBulkPermissions ?? 0;
    await expectRefused('not-a-token', /consistency/);
    expect(app.services.spicedb.stats.calls.CheckBulkPermissions ?? 0).toBe(before);
  });

  it("another datastore's token (another SpiceDB key), in every procedure", async () => {
    const alien = await other.as('alien');
    const { zedToken } = await alien.org.create({ orgId: 'alien_org' });
    expect(zedToken).not.toBe(ownToken);
    await expectRefused(zedToken, /consistency.*another SpiceDB datastore/);
  });

  it('a well-formed token naming a revision SpiceDB never issued: BAD_REQUEST in one call', async () => {
    // The service's own datastore prefix on a revision far in the future.
    const prefix = Buffer.from(ownToken, 'base64').subarray(-8).toString();
    const field = (n: number, v: string) =>
      Buffer.concat([Buffer.from([(n << 3) | 2, v.length]), Buffer.from(v)]);
    const inner = Buffer.concat([field(1, '9096172754486681127'), field(2, prefix)]);
    const future = Buffer.concat([Buffer.from([0x1a, inner.length]), inner]).toString('base64');
    // An instance that has not written passes the caller's token on to SpiceDB as it is.
    const reader = await createTestApp(app.connection);
    const owner = await reader.as(userOf('owner'));
    const calls = () => reader.services.spicedb.stats.calls.CheckBulkPermissions ?? 0;
    const before = calls();
    const items = Array.from({ length: 100 }, (_, index) => ({
      resource: `project:p${index}` as const,
      permission: 'read_settings' as const,
    }));
    await expect(
      owner.authz.checkBulk({ items, consistency: { atLeastAsFresh: future } }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('consistency') as string,
    });
    expect(calls() - before).toBe(1);
    await expect(
      owner.authz.check({ ...sample, consistency: { atLeastAsFresh: future } }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('a token of its own datastore is accepted', async () => {
    const owner = await as('owner');
    const answer = await owner.authz.check({
      ...sample,
      consistency: { atLeastAsFresh: ownToken },
    });
    expect(answer.allowed).toBe(true);
  });
});
