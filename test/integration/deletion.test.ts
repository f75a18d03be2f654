import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_UPDATES_PER_WRITE } from '../../src/authz/service.js';
import type { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { touch } from '../../src/spicedb/proto.js';
import { allowedOver, startHttpService, type HttpService } from '../support/http-service.js';

/**
 * project.delete, org.delete (cascade) and org.leave over plain HTTP against a real SpiceDB:
 * who may, what goes, what stays, chunked deletes that resume, and the races the contract names.
 */

let svc: HttpService;
const ORG = 'del-acme';
const OTHER_ORG = 'del-globex';
const strong = { kind: 'fullyConsistent' } as const;

/** Every relationship SpiceDB holds, as text. */
async function everything(): Promise<string[]> {
  const types = ['organization', 'invitation', 'project', 'cluster', 'volume'];
  const found = await Promise.all(
    types.map((resourceType) => svc.services.spicedb.readRelationships({ resourceType }, strong)),
  );
  return found
    .flat()
    .map((r) => `${r.resourceType}:${r.resourceId}#${r.relation}@${r.subjectType}:${r.subjectId}`)
    .sort();
}

const mentioning = async (...ids: string[]) =>
  (await everything()).filter((r) =>
    ids.some((id) => r.includes(`:${id}#`) || r.endsWith(`:${id}`)),
  );

const allowed = (userId: string, resource: string, permission: string) =>
  allowedOver(svc, userId, resource, permission);

/**
 * acme: owner; ada (admin, joined p1), max (member, in p1 and p2), pia (project admin of p1);
 * p1 with a cluster, a volume and an external collaborator; p2. globex, where max is too.
 */
beforeEach(async () => {
  svc = await startHttpService();
  const steps: Array<[string, string, Record<string, unknown>]> = [
    ['owner', 'org.create', { orgId: ORG }],
    ['owner', 'org.addMember', { orgId: ORG, userId: 'ada', role: 'admin' }],
    ['owner', 'org.addMember', { orgId: ORG, userId: 'max', role: 'member' }],
    ['owner', 'org.addMember', { orgId: ORG, userId: 'pia', role: 'member' }],
    ['owner', 'org.invite', { orgId: ORG, userId: 'ivy', role: 'member' }],
    ['owner', 'project.create', { orgId: ORG, projectId: 'p1' }],
    ['owner', 'project.create', { orgId: ORG, projectId: 'p2' }],
    ['ada', 'project.join', { projectId: 'p1' }],
    ['owner', 'project.addCollaborator', { projectId: 'p1', userId: 'max' }],
    ['owner', 'project.addCollaborator', { projectId: 'p2', userId: 'max' }],
    ['owner', 'project.addCollaborator', { projectId: 'p1', userId: 'pia', role: 'admin' }],
    ['owner', 'project.addCollaborator', { projectId: 'p1', userId: 'ext' }],
    ['owner', 'cluster.create', { projectId: 'p1', clusterId: 'p1-gpu' }],
    ['owner', 'volume.create', { projectId: 'p1', volumeId: 'p1-vol' }],
    ['globex', 'org.create', { orgId: OTHER_ORG }],
    ['globex', 'org.addMember', { orgId: OTHER_ORG, userId: 'max', role: 'member' }],
    ['globex', 'project.create', { orgId: OTHER_ORG, projectId: 'g1' }],
    ['globex', 'project.addCollaborator', { projectId: 'g1', userId: 'max' }],
  ];
  for (const [userId, path, input] of steps) await svc.must(userId, path, input);
});
afterEach(() => svc.close());

describe('project.delete', () => {
  it('needs write_settings: members, unjoined organization admins and strangers are refused, nothing changes', async () => {
    const before = await everything();
    await svc.must('owner', 'org.addMember', { orgId: ORG, userId: 'oda', role: 'admin' });
    const afterAdd = await everything();
    for (const userId of ['max', 'ext', 'oda', 'stranger']) {
      expect(
        await svc.mutation(userId, 'project.delete', { projectId: 'p1' }),
        userId,
      ).toMatchObject({
        ok: false,
        code: 'FORBIDDEN',
      });
    }
    expect(await svc.mutation('owner', 'project.delete', { projectId: 'nope' })).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    expect(await everything()).toEqual(afterAdd);
    expect(afterAdd.length).toBe(before.length + 1);
  });

  it('a project admin deletes it with its clusters, volumes, collaborators and organization links', async () => {
    const { zedToken } = await svc.must('pia', 'project.delete', { projectId: 'p1' });
    expect(zedToken).toMatch(/\S/);
    expect(await mentioning('p1', 'p1-gpu', 'p1-vol')).toEqual([]);
    for (const userId of ['owner', 'ada', 'max', 'pia', 'ext']) {
      expect(await allowed(userId, 'cluster:p1-gpu', 'view'), userId).toBe(false);
      expect(await allowed(userId, 'volume:p1-vol', 'read_write'), userId).toBe(false);
      expect(await allowed(userId, 'project:p1', 'view_name'), userId).toBe(false);
    }
    // ext was a collaborator of p1 only: no longer sees the organization's name.
    expect(await allowed('ext', `organization:${ORG}`, 'view_name')).toBe(false);
    // The rest of the organization is untouched.
    expect(await allowed('max', 'project:p2', 'use_endpoints')).toBe(true);
    expect(
      await svc.query('owner', 'project.listCollaborators', { projectId: 'p1' }),
    ).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    // Nothing is left behind: the id is free again.
    await svc.must('owner', 'project.create', { orgId: ORG, projectId: 'p1' });
  });

  it('an organization admin who joined may delete it; it is audited', async () => {
    const before = svc.audit.length;
    await svc.must('ada', 'project.delete', { projectId: 'p1' });
    await svc.mutation('ada', 'project.delete', { projectId: 'p1' });
    expect(
      svc.audit
        .slice(before)
        .map((r) => [r.caller, r.operation, r.target, r.outcome, r.zedToken !== null]),
    ).toEqual([
      ['ada', 'project.delete', { projectId: 'p1' }, 'ok', true],
      ['ada', 'project.delete', { projectId: 'p1' }, 'FORBIDDEN', false],
    ]);
  });

  it('beyond one write, deletes in chunks; a failed chunk leaves a safe state and the retry finishes', async () => {
    const gateway: SpiceDbGateway = svc.services.spicedb;
    const clusters = MAX_UPDATES_PER_WRITE + 200;
    const updates = Array.from({ length: clusters }, (_, i) =>
      touch({
        resourceType: 'cluster',
        resourceId: `bulk-${i}`,
        relation: 'project',
        subjectType: 'project',
        subjectId: 'p1',
      }),
    );
    for (let start = 0; start < updates.length; start += MAX_UPDATES_PER_WRITE) {
      await gateway.write(updates.slice(start, start + MAX_UPDATES_PER_WRITE));
    }
    // The second write of the delete fails as if SpiceDB had gone away.
    const write = gateway.write.bind(gateway);
    let writes = 0;
    gateway.write = async (...args: Parameters<SpiceDbGateway['write']>) => {
      writes += 1;
      if (writes === 2)
        throw Object.assign(new Error('unavailable'), { code: 14, details: 'unavailable' });
      return write(...args);
    };
    const failed = await svc.mutation('pia', 'project.delete', { projectId: 'p1' });
    expect(failed).toMatchObject({ ok: false, code: 'SERVICE_UNAVAILABLE' });
    // Safe: some clusters are gone, none gained anything; the deleter is still its admin.
    const left = (await mentioning('p1')).length;
    expect(left).toBeGreaterThan(0);
    expect(await allowed('pia', 'project:p1', 'write_settings')).toBe(true);
    expect(await allowed('max', 'cluster:bulk-0', 'view')).toBe(false);

    await svc.must('pia', 'project.delete', { projectId: 'p1' });
    // The first try wrote one chunk and failed on the next; the rest fits one write.
    expect(writes).toBe(3);
    expect(await mentioning('p1', 'p1-gpu', 'p1-vol')).toEqual([]);
    expect(
      (await gateway.readRelationships({ resourceType: 'cluster' }, strong)).filter((r) =>
        r.resourceId.startsWith('bulk-'),
      ),
    ).toEqual([]);
  });

  it('delete racing addCollaborator and cluster.create leaves nothing behind', async () => {
    for (let round = 0; round < 6; round += 1) {
      const projectId = `race-${round}`;
      await svc.must('owner', 'project.create', { orgId: ORG, projectId });
      const [deleted] = await Promise.all([
        svc.mutation('owner', 'project.delete', { projectId }),
        svc.mutation('owner', 'project.addCollaborator', { projectId, userId: 'max' }),
        svc.mutation('owner', 'project.addCollaborator', { projectId, userId: 'late-ext' }),
        svc.mutation('owner', 'cluster.create', { projectId, clusterId: `${projectId}-c` }),
      ]);
      expect(deleted.ok, `round ${round}`).toBe(true);
      expect(await mentioning(projectId, `${projectId}-c`), `round ${round}`).toEqual([]);
      expect(await allowed('late-ext', `project:${projectId}`, 'read_settings')).toBe(false);
    }
  });
});

describe('org.delete', () => {
  it('the owner alone: admins and members are refused', async () => {
    for (const userId of ['ada', 'max', 'stranger']) {
      expect(
        await svc.mutation(userId, 'org.delete', { orgId: ORG, cascade: true }),
        userId,
      ).toMatchObject({
        ok: false,
        code: 'FORBIDDEN',
      });
    }
    expect(await svc.mutation('owner', 'org.delete', { orgId: 'nope' })).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    expect(await svc.mutation('owner', 'org.delete', { orgId: ORG, cascade: 'yes' })).toMatchObject(
      {
        ok: false,
        code: 'BAD_REQUEST',
      },
    );
  });

  it('PRECONDITION_FAILED while projects remain, changing nothing; empty, it goes', async () => {
    const before = await everything();
    const refused = await svc.mutation('owner', 'org.delete', { orgId: ORG });
    expect(refused).toMatchObject({ ok: false, code: 'PRECONDITION_FAILED' });
    expect(refused.ok ? '' : refused.message).toContain('cascade');
    expect(await everything()).toEqual(before);

    await svc.must('owner', 'project.delete', { projectId: 'p1' });
    await svc.must('owner', 'project.delete', { projectId: 'p2' });
    await svc.must('owner', 'org.delete', { orgId: ORG });
    expect(await mentioning(ORG)).toEqual([]);
    expect(await allowed('max', `organization:${ORG}`, 'read_settings')).toBe(false);
  });

  it('cascade removes its projects, their children, members and invitations, sparing the other organization', async () => {
    const globex = await mentioning(OTHER_ORG, 'g1');
    await svc.must('owner', 'org.delete', { orgId: ORG, cascade: true });
    expect(await mentioning(ORG, 'p1', 'p2', 'p1-gpu', 'p1-vol')).toEqual([]);
    expect(await mentioning(OTHER_ORG, 'g1')).toEqual(globex);
    expect(await allowed('max', 'project:g1', 'use_endpoints')).toBe(true);
    expect(await svc.mutation('ivy', 'org.acceptInvitation', { orgId: ORG })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    // The id is free again, for anyone.
    await svc.must('someone-else', 'org.create', { orgId: ORG });
    expect(await allowed('owner', `organization:${ORG}`, 'read_settings')).toBe(false);
  });

  it('cascade racing invites, project creation and collaborators leaves nothing behind', async () => {
    const [deleted] = await Promise.all([
      svc.mutation('owner', 'org.delete', { orgId: ORG, cascade: true }),
      svc.mutation('ada', 'org.invite', { orgId: ORG, userId: 'racer', role: 'member' }),
      svc.mutation('ada', 'project.create', { orgId: ORG, projectId: 'p3' }),
      svc.mutation('ada', 'project.addCollaborator', { projectId: 'p1', userId: 'racer2' }),
      svc.mutation('owner', 'org.addMember', { orgId: ORG, userId: 'racer3', role: 'member' }),
    ]);
    expect(deleted.ok).toBe(true);
    expect(await mentioning(ORG, 'p1', 'p2', 'p3', 'p1-gpu', 'p1-vol')).toEqual([]);
  });
});

describe('org.leave', () => {
  it('a member leaves with their project roles in the organization, keeping those elsewhere', async () => {
    const { zedToken } = await svc.must('max', 'org.leave', { orgId: ORG });
    expect(zedToken).toMatch(/\S/);
    expect(await allowed('max', `organization:${ORG}`, 'read_settings')).toBe(false);
    expect(await allowed('max', 'project:p1', 'read_settings')).toBe(false);
    expect(await allowed('max', 'project:p2', 'read_settings')).toBe(false);
    expect(await allowed('max', 'project:g1', 'read_settings')).toBe(true);
    expect(
      (await mentioning('max')).filter((r) => !r.includes(OTHER_ORG) && !r.includes(':g1')),
    ).toEqual([]);
  });

  it('the owner may not (PRECONDITION_FAILED); an outsider is FORBIDDEN; an unknown organization FORBIDDEN, as one it cannot see', async () => {
    const owner = await svc.mutation('owner', 'org.leave', { orgId: ORG });
    expect(owner).toMatchObject({ ok: false, code: 'PRECONDITION_FAILED' });
    expect(owner.ok ? '' : owner.message).toContain('transfer ownership');
    expect(await svc.mutation('ext', 'org.leave', { orgId: ORG })).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    expect(await svc.mutation('max', 'org.leave', { orgId: 'nope' })).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    expect(await allowed('owner', `organization:${ORG}`, 'write_settings')).toBe(true);
    expect(await allowed('ext', 'project:p1', 'read_settings')).toBe(true);
  });

  it('leave racing a promotion: the user ends with no role in the organization or its projects', async () => {
    for (let round = 0; round < 6; round += 1) {
      const userId = `climber${round}`;
      await svc.must('owner', 'org.addMember', { orgId: ORG, userId, role: 'member' });
      await svc.must('owner', 'project.addCollaborator', { projectId: 'p1', userId });
      const [left] = await Promise.all([
        svc.mutation(userId, 'org.leave', { orgId: ORG }),
        svc.mutation('owner', 'org.setMemberRole', { orgId: ORG, userId, role: 'admin' }),
        svc.mutation('ada', 'project.setCollaboratorRole', {
          projectId: 'p1',
          userId,
          role: 'admin',
        }),
      ]);
      expect(left.ok, `round ${round}`).toBe(true);
      expect(await mentioning(userId), `round ${round}`).toEqual([]);
    }
  });
});
