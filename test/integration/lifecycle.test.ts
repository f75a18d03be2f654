import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SAMPLE, userOf, type Persona } from '../../testkit/matrix.js';
import { PUBLIC_PERMISSIONS, RESOURCE_TYPES, type ResourceType } from '../../src/authz/schema.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import { chunk } from '../../src/util/chunk.js';
import type { TestApp } from '../support/app.js';
import { BACKEND_USER, buildSampleOrg, observeSampleOrg } from '../support/sample-org.js';
import { anyPair, anyTypePair } from '../../testkit/check-pairs.js';

type Caller = Awaited<ReturnType<TestApp['as']>>;
const { orgId, projectId, otherProjectId, clusterId, volumeId } = SAMPLE;

let app: TestApp;
let backend: Caller;
const as = (persona: Persona) => app.as(userOf(persona));

/** Another organization, where some of the sample's personas also hold roles. */
const OTHER = { orgId: 'globex', projectId: 'globex_ml', clusterId: 'globex_gpu1' } as const;

/** Every object the tests create, by type. */
const OBJECTS: Record<ResourceType, string[]> = {
  organization: [orgId, OTHER.orgId],
  project: [projectId, otherProjectId, OTHER.projectId],
  cluster: [clusterId, OTHER.clusterId],
  volume: [volumeId],
  user: [],
};

/** Every permission `userId` holds on `objects`, as `type:id#permission`, asked by a backend. */
async function grantsOf(userId: string, objects = OBJECTS): Promise<string[]> {
  const items = RESOURCE_TYPES.flatMap((type) =>
    objects[type].flatMap((id) =>
      PUBLIC_PERMISSIONS[type].map((permission) => ({
        ...anyPair(`${type}:${id}`, permission),
        subject: `user:${userId}`,
      })),
    ),
  );
  const granted: string[] = [];
  for (const slice of chunk(items, 100)) {
    const { results } = await backend.authz.checkBulk({
      items: slice,
      consistency: { fullyConsistent: true },
    });
    slice.forEach((item, index) => {
      if (results[index]?.allowed) granted.push(`${item.resource}#${item.permission}`);
    });
  }
  return granted.sort();
}

/** Every resource a lookup finds for `userId`, over every type and permission. */
async function lookupsOf(userId: string): Promise<string[]> {
  const found: string[] = [];
  for (const type of RESOURCE_TYPES) {
    for (const permission of PUBLIC_PERMISSIONS[type]) {
      const { resourceIds } = await backend.authz.lookupResources({
        ...anyTypePair(type, permission),
        subject: `user:${userId}`,
        consistency: { fullyConsistent: true },
      });
      found.push(...resourceIds.map((id) => `${type}:${id}#${permission}`));
    }
  }
  return found.sort();
}

/** Every relationship naming the user, read straight from SpiceDB. */
async function relationshipsOf(userId: string): Promise<string[]> {
  const all = (await observeSampleOrg(app)).relationships;
  return all.filter((r) => r.endsWith(`@user:${userId}`) || r.startsWith(`user:${userId}#`));
}

beforeEach(async () => {
  ({ app } = await buildSampleOrg());
  backend = await app.as(BACKEND_USER, BACKEND_SCOPE);
  // globex: its owner brings in two of acme's personas, so removal from acme must spare them.
  const globex = await app.as('globex_owner');
  await globex.org.create({ orgId: OTHER.orgId });
  await globex.org.addMember({
    orgId: OTHER.orgId,
    userId: userOf('org_member_project_admin'),
    role: 'member',
  });
  await globex.project.create({ orgId: OTHER.orgId, projectId: OTHER.projectId });
  await globex.project.addCollaborator({
    projectId: OTHER.projectId,
    userId: userOf('org_member_project_admin'),
    role: 'admin',
  });
  await globex.project.addCollaborator({
    projectId: OTHER.projectId,
    userId: userOf('org_admin_joined'),
  });
  await globex.cluster.create({ projectId: OTHER.projectId, clusterId: OTHER.clusterId });
});
afterEach(() => app.close());

describe('org.removeMember', () => {
  it.each<Persona>(['org_member_project_admin', 'org_admin_joined', 'org_member_in_project'])(
    'removes %s from acme and from every acme project, sparing globex',
    async (persona) => {
      const userId = userOf(persona);
      const globexBefore = (await grantsOf(userId)).filter((g) => g.includes('globex'));
      const inGlobex = persona !== 'org_member_in_project';
      expect(globexBefore.length > 0).toBe(inGlobex);

      const { zedToken } = await (await as('owner')).org.removeMember({ orgId, userId });
      expect(zedToken).not.toBe('');

      const after = await grantsOf(userId);
      expect(after.filter((g) => !g.includes('globex'))).toEqual([]);
      expect(after.filter((g) => g.includes('globex'))).toEqual(globexBefore);
      expect((await lookupsOf(userId)).filter((l) => !l.includes('globex'))).toEqual([
        `user:${userId}#view_profile`,
      ]);
      const owner = await as('owner');
      const { members } = await owner.org.listMembers({ orgId });
      expect(members.map((m) => m.userId)).not.toContain(userId);
      for (const project of [projectId, otherProjectId]) {
        const { collaborators } = await owner.project.listCollaborators({ projectId: project });
        expect(collaborators.map((c) => c.userId)).not.toContain(userId);
      }
      expect(
        (await relationshipsOf(userId)).filter((r) => r.includes('acme')),
        'no acme relationship names the removed user',
      ).toEqual([]);

      // The removed user's own calls see it at once (read-your-writes on their side too).
      const removed = await app.as(userId);
      await expect(removed.org.listMembers({ orgId })).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
      await expect(removed.project.listCollaborators({ projectId })).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
    },
  );

  it('removes a demoted former admin from the projects they joined', async () => {
    const owner = await as('owner');
    await owner.org.setMemberRole({ orgId, userId: userOf('org_admin_joined'), role: 'member' });
    // Still a project admin by their explicit role: the demotion does not touch projects.
    expect(
      (
        await backend.authz.check({
          resource: `project:${projectId}`,
          permission: 'write_settings',
          subject: `user:${userOf('org_admin_joined')}`,
        })
      ).allowed,
    ).toBe(true);
    await owner.org.removeMember({ orgId, userId: userOf('org_admin_joined') });
    expect(
      (await grantsOf(userOf('org_admin_joined'))).filter((g) => !g.includes('globex')),
    ).toEqual([]);
  });

  it('a removed member can be invited again and starts with no project role', async () => {
    const owner = await as('owner');
    const userId = userOf('org_member_project_admin');
    await owner.org.removeMember({ orgId, userId });
    await owner.org.addMember({ orgId, userId, role: 'member' });
    const grants = (await grantsOf(userId)).filter((g) => !g.includes('globex'));
    expect(grants).toContain(`organization:${orgId}#read_settings`);
    expect(grants).toContain(`project:${projectId}#view_name`);
    expect(grants).not.toContain(`project:${projectId}#read_settings`);
    expect(grants).not.toContain(`cluster:${clusterId}#ssh`);
  });
});

describe('user.deleteAccount', () => {
  it.each<Persona>(['org_member_project_admin', 'external_admin', 'org_admin_joined', 'stranger'])(
    'leaves nothing of %s: no relationship, no check true but their own profile',
    async (persona) => {
      const userId = userOf(persona);
      const { zedToken } = await (await as(persona)).user.deleteAccount();
      expect(zedToken).not.toBe('');
      expect(await relationshipsOf(userId)).toEqual([]);
      const objects = { ...OBJECTS, user: [userId, userOf('owner')] };
      // Seeing one's own profile is `self` in the schema, not a relationship: it is all that is left.
      expect(await grantsOf(userId, objects)).toEqual([`user:${userId}#view_profile`]);
      expect(await lookupsOf(userId)).toEqual([`user:${userId}#view_profile`]);
      const owner = await as('owner');
      const { members } = await owner.org.listMembers({ orgId });
      expect(members.map((m) => m.userId)).not.toContain(userId);
      const { collaborators } = await owner.project.listCollaborators({ projectId });
      expect(collaborators.map((c) => c.userId)).not.toContain(userId);
      const { subjectIds } = await backend.authz.lookupSubjects({
        resource: `project:${projectId}`,
        permission: 'read_settings',
      });
      expect(subjectIds).not.toContain(userId);
    },
  );

  it('is refused for an owner, in any organization they own, leaving everything in place', async () => {
    const before = await observeSampleOrg(app);
    await expect((await as('owner')).user.deleteAccount()).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    const globexOwner = await app.as('globex_owner');
    await expect(globexOwner.user.deleteAccount()).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    expect(await observeSampleOrg(app)).toEqual(before);
  });

  it('removes a user holding many relationships, all of them', async () => {
    const owner = await as('owner');
    const userId = userOf('org_member_outside');
    const projects = Array.from({ length: 40 }, (_, i) => `acme_bulk_${i}`);
    for (const id of projects) {
      await owner.project.create({ orgId, projectId: id });
      await owner.project.addCollaborator({ projectId: id, userId });
    }
    expect((await relationshipsOf(userId)).length).toBeGreaterThan(40);
    await (await as('org_member_outside')).user.deleteAccount();
    expect(await relationshipsOf(userId)).toEqual([]);
    const { resourceIds } = await backend.authz.lookupResources({
      resourceType: 'project',
      permission: 'view_name',
      subject: `user:${userId}`,
    });
    expect(resourceIds).toEqual([]);
  });
});

describe('project.removeCollaborator', () => {
  it.each<Persona>([
    'external_member',
    'external_admin',
    'org_member_in_project',
    'org_admin_joined',
  ])('takes %s off the project, its clusters and its volumes', async (persona) => {
    const userId = userOf(persona);
    const before = await grantsOf(userId);
    expect(before).toContain(`cluster:${clusterId}#ssh`);
    expect(before).toContain(`volume:${volumeId}#read_write`);

    await (
      await as('org_member_project_admin')
    ).project.removeCollaborator({
      projectId,
      userId,
    });

    const after = await grantsOf(userId);
    for (const type of ['cluster', 'volume'] as const) {
      expect(after.filter((g) => g.startsWith(`${type}:acme`))).toEqual([]);
    }
    expect(after.filter((g) => g.startsWith(`project:${projectId}#`))).toEqual(
      persona.startsWith('org_') ? [`project:${projectId}#view_name`] : [],
    );
    // An organization member keeps their organization grants; an external collaborator of no
    // other acme project no longer even sees the organization's name.
    expect(after.filter((g) => g.startsWith('organization:acme'))).toEqual(
      persona.startsWith('external_')
        ? []
        : before.filter((g) => g.startsWith('organization:acme')),
    );
    const { collaborators } = await (await as('owner')).project.listCollaborators({ projectId });
    expect(collaborators.map((c) => c.userId)).not.toContain(userId);
  });

  it('lets an organization admin rejoin after being removed', async () => {
    await (
      await as('owner')
    ).project.removeCollaborator({
      projectId,
      userId: userOf('org_admin_joined'),
    });
    await (await as('org_admin_joined')).project.join({ projectId });
    expect(await grantsOf(userOf('org_admin_joined'))).toContain(`cluster:${clusterId}#delete`);
  });
});

describe('cluster.delete and volume.delete', () => {
  it('leave no permission on the deleted object for anybody', async () => {
    const owner = await as('owner');
    await owner.cluster.delete({ clusterId });
    await owner.volume.delete({ volumeId });
    for (const persona of ['owner', 'external_admin', 'org_member_in_project'] as const) {
      const grants = await grantsOf(userOf(persona));
      expect(grants.filter((g) => g.startsWith(`cluster:${clusterId}#`))).toEqual([]);
      expect(grants.filter((g) => g.startsWith(`volume:${volumeId}#`))).toEqual([]);
    }
    // The ids are free again.
    await owner.cluster.create({ projectId: otherProjectId, clusterId });
    expect(
      (await owner.authz.check({ resource: `cluster:${clusterId}`, permission: 'scale' })).allowed,
    ).toBe(true);
    expect(
      (
        await backend.authz.check({
          resource: `cluster:${clusterId}`,
          permission: 'ssh',
          subject: `user:${userOf('external_member')}`,
        })
      ).allowed,
    ).toBe(false);
  });
});

describe('the write preconditions hold without the routers’ checks', () => {
  // Called on the domain service directly: what a request that passed its permission check
  // just before a concurrent change would run.
  it('project.join needs an organization admin of the project’s own organization', async () => {
    const { authz } = app.services;
    await expect(
      authz.projects.join(userOf('org_member_outside'), orgId, projectId),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(
      authz.projects.join(userOf('external_admin'), orgId, otherProjectId),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // An admin of globex is no admin of acme's projects.
    await expect(authz.projects.join('globex_owner', OTHER.orgId, projectId)).rejects.toMatchObject(
      {
        code: 'FORBIDDEN',
      },
    );
    expect(await grantsOf(userOf('org_member_outside'))).not.toContain(
      `project:${projectId}#write_settings`,
    );
    expect(await grantsOf('globex_owner')).not.toContain(`project:${projectId}#read_settings`);
  });

  it('the owner rules refuse as PRECONDITION_FAILED', async () => {
    const { authz } = app.services;
    const before = await observeSampleOrg(app);
    await expect(authz.orgs.removeMember(orgId, userOf('owner'))).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    await expect(authz.orgs.setMemberRole(orgId, userOf('owner'), 'admin')).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    await expect(authz.deleteAccount(userOf('owner'))).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    await expect(
      authz.orgs.transferOwnership(
        orgId,
        userOf('org_admin_joined'),
        userOf('org_admin_not_joined'),
      ),
    ).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
    await expect(
      authz.collaborators.setRole(orgId, projectId, userOf('org_admin_joined'), 'member'),
    ).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
    expect(await observeSampleOrg(app)).toEqual(before);
  });
});
