import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SAMPLE, userOf, type Persona } from '../../testkit/matrix.js';
import type { PublicPermission } from '../../src/authz/schema.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import { createTestApp, startHttpApp, type TestApp } from '../support/app.js';
import {
  BACKEND_USER,
  buildSampleOrg,
  callerWithAuthorization,
  httpTrpc,
  observeSampleOrg,
} from '../support/sample-org.js';
import { anyPair, anyTypePair } from '../../testkit/check-pairs.js';
import { TEST_JWT_SECRET, tokenFor } from '../../testkit/tokens.js';

type Caller = Awaited<ReturnType<TestApp['as']>>;

/** A permission name TypeScript would refuse: what an untyped caller sends anyway. */
const untyped = (permission: string) => permission as PublicPermission;
const { orgId, projectId, otherProjectId, clusterId, volumeId } = SAMPLE;

let app: TestApp;
const as = (persona: Persona): Promise<Caller> => app.as(userOf(persona));

/** A refusal: the contract's code, and afterwards every observable of the sample org unchanged. */
async function expectRefusedLeavingStateUnchanged(
  attempt: () => Promise<unknown>,
  code: string,
): Promise<void> {
  const before = await observeSampleOrg(app);
  await expect(attempt()).rejects.toMatchObject({ code });
  const after = await observeSampleOrg(app);
  expect(after).toEqual(before);
}

describe('refusals on the sample organization leave it unchanged', () => {
  beforeAll(async () => {
    ({ app } = await buildSampleOrg());
  });
  afterAll(() => app.close());

  const refusals: Array<{ name: string; code: string; attempt: () => Promise<unknown> }> = [
    // The owner rules.
    {
      name: 'an admin removes the owner',
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('org_admin_joined')).org.removeMember({ orgId, userId: userOf('owner') }),
    },
    {
      name: 'the owner removes themself',
      code: 'PRECONDITION_FAILED',
      attempt: async () => (await as('owner')).org.removeMember({ orgId, userId: userOf('owner') }),
    },
    {
      name: 'an admin demotes the owner to member',
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('org_admin_not_joined')).org.setMemberRole({
          orgId,
          userId: userOf('owner'),
          role: 'member',
        }),
    },
    {
      name: "an admin changes the owner's role to plain admin",
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('org_admin_joined')).org.setMemberRole({
          orgId,
          userId: userOf('owner'),
          role: 'admin',
        }),
    },
    {
      name: 'the owner demotes themself',
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('owner')).org.setMemberRole({ orgId, userId: userOf('owner'), role: 'member' }),
    },
    {
      name: 'the owner deletes their own account',
      code: 'PRECONDITION_FAILED',
      attempt: async () => (await as('owner')).user.deleteAccount(),
    },
    // Self-promotion and escalation.
    {
      name: 'an organization member promotes themself to organization admin',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('org_member_in_project')).org.setMemberRole({
          orgId,
          userId: userOf('org_member_in_project'),
          role: 'admin',
        }),
    },
    {
      name: 'an organization member promotes themself to project admin',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('org_member_in_project')).project.setCollaboratorRole({
          projectId,
          userId: userOf('org_member_in_project'),
          role: 'admin',
        }),
    },
    {
      name: 'an external member promotes themself to project admin',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('external_member')).project.setCollaboratorRole({
          projectId,
          userId: userOf('external_member'),
          role: 'admin',
        }),
    },
    {
      name: 'an organization member invites someone',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('org_member_outside')).org.addMember({
          orgId,
          userId: 'newcomer',
          role: 'member',
        }),
    },
    {
      name: 'an organization member removes an admin',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('org_member_project_admin')).org.removeMember({
          orgId,
          userId: userOf('org_admin_joined'),
        }),
    },
    {
      name: 'an external project admin invites themself into the organization',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('external_admin')).org.addMember({
          orgId,
          userId: userOf('external_admin'),
          role: 'admin',
        }),
    },
    {
      name: 'an external collaborator reads the organization members',
      code: 'FORBIDDEN',
      attempt: async () => (await as('external_admin')).org.listMembers({ orgId }),
    },
    {
      name: 'a stranger reads the organization members',
      code: 'FORBIDDEN',
      attempt: async () => (await as('stranger')).org.listMembers({ orgId }),
    },
    {
      name: 'a stranger joins a project',
      code: 'FORBIDDEN',
      attempt: async () => (await as('stranger')).project.join({ projectId }),
    },
    {
      name: 'an organization member joins a project',
      code: 'FORBIDDEN',
      attempt: async () => (await as('org_member_outside')).project.join({ projectId }),
    },
    {
      name: 'an external project admin joins a sibling project',
      code: 'FORBIDDEN',
      attempt: async () => (await as('external_admin')).project.join({ projectId: otherProjectId }),
    },
    {
      name: 'a project member adds a collaborator',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('org_member_in_project')).project.addCollaborator({
          projectId,
          userId: userOf('org_member_outside'),
        }),
    },
    {
      name: 'a project member removes a collaborator',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('external_member')).project.removeCollaborator({
          projectId,
          userId: userOf('external_admin'),
        }),
    },
    {
      name: 'an organization admin who has not joined adds a collaborator',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('org_admin_not_joined')).project.addCollaborator({
          projectId,
          userId: userOf('org_member_outside'),
        }),
    },
    {
      name: 'a stranger reads the collaborators of a project',
      code: 'FORBIDDEN',
      attempt: async () => (await as('stranger')).project.listCollaborators({ projectId }),
    },
    {
      name: 'an organization member outside the project creates a project',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('org_member_outside')).project.create({ orgId, projectId: 'sneaky' }),
    },
    {
      name: 'a project member creates a cluster',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('org_member_in_project')).cluster.create({ projectId, clusterId: 'rogue' }),
    },
    {
      name: 'a project member deletes a cluster',
      code: 'FORBIDDEN',
      attempt: async () => (await as('external_member')).cluster.delete({ clusterId }),
    },
    {
      name: 'a project member deletes a volume',
      code: 'FORBIDDEN',
      attempt: async () => (await as('org_member_in_project')).volume.delete({ volumeId }),
    },
    {
      name: 'a stranger creates a volume',
      code: 'FORBIDDEN',
      attempt: async () => (await as('stranger')).volume.create({ projectId, volumeId: 'rogue' }),
    },
    {
      name: 'an organization admin is set to project member',
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('owner')).project.setCollaboratorRole({
          projectId,
          userId: userOf('org_admin_joined'),
          role: 'member',
        }),
    },
    {
      name: 'an organization admin is added to a project as member',
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('owner')).project.addCollaborator({
          projectId,
          userId: userOf('org_admin_not_joined'),
          role: 'member',
        }),
    },
    {
      name: 'the owner is set to project member',
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('org_member_project_admin')).project.setCollaboratorRole({
          projectId,
          userId: userOf('owner'),
          role: 'member',
        }),
    },
    // Existing and unknown objects.
    {
      name: 'a stranger creates an organization that exists',
      code: 'CONFLICT',
      attempt: async () => (await as('stranger')).org.create({ orgId }),
    },
    {
      name: 'the owner creates the organization again',
      code: 'CONFLICT',
      attempt: async () => (await as('owner')).org.create({ orgId }),
    },
    {
      name: 'the owner creates a project that exists',
      code: 'CONFLICT',
      attempt: async () => (await as('owner')).project.create({ orgId, projectId }),
    },
    {
      name: 'the owner creates a cluster that exists',
      code: 'CONFLICT',
      attempt: async () => (await as('owner')).cluster.create({ projectId, clusterId }),
    },
    {
      name: 'a project admin creates an existing cluster id in a sibling project',
      code: 'CONFLICT',
      attempt: async () =>
        (await as('owner')).cluster.create({ projectId: otherProjectId, clusterId }),
    },
    {
      name: 'the owner creates a volume that exists',
      code: 'CONFLICT',
      attempt: async () => (await as('owner')).volume.create({ projectId, volumeId }),
    },
    {
      name: 'the owner adds an existing member again',
      code: 'CONFLICT',
      attempt: async () =>
        (await as('owner')).org.addMember({
          orgId,
          userId: userOf('org_member_outside'),
          role: 'admin',
        }),
    },
    {
      name: 'the owner adds an existing collaborator again',
      code: 'CONFLICT',
      attempt: async () =>
        (await as('owner')).project.addCollaborator({
          projectId,
          userId: userOf('external_member'),
          role: 'admin',
        }),
    },
    {
      name: 'a member is invited to an unknown organization',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('owner')).org.addMember({ orgId: 'no_such_org', userId: 'x', role: 'member' }),
    },
    {
      name: 'the members of an unknown organization are listed',
      code: 'FORBIDDEN',
      attempt: async () => (await as('owner')).org.listMembers({ orgId: 'no_such_org' }),
    },
    {
      name: 'a project is created in an unknown organization',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('owner')).project.create({ orgId: 'no_such_org', projectId: 'p_new' }),
    },
    {
      name: 'a collaborator is added to an unknown project',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('owner')).project.addCollaborator({ projectId: 'no_such_project', userId: 'x' }),
    },
    {
      name: 'an unknown project is joined',
      code: 'FORBIDDEN',
      attempt: async () => (await as('org_admin_not_joined')).project.join({ projectId: 'nope' }),
    },
    {
      name: 'a cluster is created in an unknown project',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('owner')).cluster.create({ projectId: 'no_such_project', clusterId: 'c_new' }),
    },
    {
      name: 'an unknown cluster is deleted',
      code: 'FORBIDDEN',
      attempt: async () => (await as('owner')).cluster.delete({ clusterId: 'no_such_cluster' }),
    },
    {
      name: 'an unknown volume is deleted',
      code: 'FORBIDDEN',
      attempt: async () => (await as('owner')).volume.delete({ volumeId: 'no_such_volume' }),
    },
    {
      name: 'a non-member is removed from the organization',
      code: 'NOT_FOUND',
      attempt: async () => (await as('owner')).org.removeMember({ orgId, userId: 'stranger' }),
    },
    {
      name: 'a non-collaborator is given a project role',
      code: 'NOT_FOUND',
      attempt: async () =>
        (await as('owner')).project.setCollaboratorRole({
          projectId,
          userId: userOf('org_member_outside'),
          role: 'admin',
        }),
    },
    // Ownership transfer: owner only, to an admin only.
    {
      name: 'an admin takes ownership',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('org_admin_joined')).org.transferOwnership({
          orgId,
          userId: userOf('org_admin_joined'),
        }),
    },
    {
      name: 'an admin hands ownership to another admin',
      code: 'FORBIDDEN',
      attempt: async () =>
        (await as('org_admin_joined')).org.transferOwnership({
          orgId,
          userId: userOf('org_admin_not_joined'),
        }),
    },
    {
      name: 'the owner hands ownership to a plain member',
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('owner')).org.transferOwnership({
          orgId,
          userId: userOf('org_member_outside'),
        }),
    },
    {
      name: 'the owner hands ownership to an external collaborator',
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('owner')).org.transferOwnership({ orgId, userId: userOf('external_admin') }),
    },
    {
      name: 'the owner hands ownership to a stranger',
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('owner')).org.transferOwnership({ orgId, userId: userOf('stranger') }),
    },
    {
      name: 'the owner hands ownership to themself',
      code: 'PRECONDITION_FAILED',
      attempt: async () =>
        (await as('owner')).org.transferOwnership({ orgId, userId: userOf('owner') }),
    },
  ];

  it.each(refusals)('$code: $name', async ({ attempt, code }) => {
    await expectRefusedLeavingStateUnchanged(attempt, code);
  });
});

describe('org.transferOwnership', () => {
  beforeEach(async () => {
    ({ app } = await buildSampleOrg());
  });
  afterEach(() => app.close());

  it('hands ownership to an admin; the old owner stays an admin and loses the owner rules', async () => {
    const owner = await as('owner');
    const { zedToken } = await owner.org.transferOwnership({
      orgId,
      userId: userOf('org_admin_not_joined'),
    });
    expect(zedToken).not.toBe('');
    const { members } = await owner.org.listMembers({ orgId });
    expect(members).toContainEqual({ userId: userOf('org_admin_not_joined'), role: 'owner' });
    expect(members).toContainEqual({ userId: userOf('owner'), role: 'admin' });
    expect(members.filter((m) => m.role === 'owner')).toHaveLength(1);

    // The old owner keeps every admin permission but may not transfer again.
    const check = (permission: string) =>
      owner.authz.check(anyPair(`organization:${orgId}`, permission));
    expect((await check('write_billing')).allowed).toBe(true);
    expect((await check('manage_roles')).allowed).toBe(true);
    await expect(
      owner.org.transferOwnership({ orgId, userId: userOf('org_admin_joined') }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });

    // The new owner now enjoys the owner rules; the old one can be demoted and removed.
    const newOwner = await as('org_admin_not_joined');
    await expect(
      owner.org.removeMember({ orgId, userId: userOf('org_admin_not_joined') }),
    ).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
    await expect(newOwner.user.deleteAccount()).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    await newOwner.org.setMemberRole({ orgId, userId: userOf('owner'), role: 'member' });
    expect((await check('write_billing')).allowed).toBe(false);
    await newOwner.org.removeMember({ orgId, userId: userOf('owner') });
    expect((await check('read_settings')).allowed).toBe(false);
  });

  it('lets the former owner delete their account once ownership is handed over', async () => {
    const owner = await as('owner');
    await owner.org.transferOwnership({ orgId, userId: userOf('org_admin_joined') });
    const { zedToken } = await owner.user.deleteAccount();
    expect(zedToken).not.toBe('');
    const { members } = await (await as('org_admin_joined')).org.listMembers({ orgId });
    expect(members.map((m) => m.userId)).not.toContain(userOf('owner'));
  });
});

describe('bad input is BAD_REQUEST with a message naming the field', () => {
  beforeAll(async () => {
    ({ app } = await buildSampleOrg());
  });
  afterAll(() => app.close());

  const BAD_IDS: Array<[string, string]> = [
    ['a wildcard', '*'],
    ['an @', 'al@ce'],
    ['a dot', 'acme.ml'],
    ['a #', 'acme#x'],
    ['a colon', 'acme:x'],
    ['an empty id', ''],
    ['1025 characters', 'a'.repeat(1025)],
    ['a space', 'a b'],
  ];

  const idFields: Array<{
    field: string;
    call: (caller: Caller, id: string) => Promise<unknown>;
  }> = [
    { field: 'orgId', call: (c, id) => c.org.create({ orgId: id }) },
    { field: 'orgId', call: (c, id) => c.org.listMembers({ orgId: id }) },
    { field: 'userId', call: (c, id) => c.org.addMember({ orgId, userId: id, role: 'member' }) },
    { field: 'projectId', call: (c, id) => c.project.create({ orgId, projectId: id }) },
    { field: 'projectId', call: (c, id) => c.project.join({ projectId: id }) },
    { field: 'userId', call: (c, id) => c.project.addCollaborator({ projectId, userId: id }) },
    { field: 'clusterId', call: (c, id) => c.cluster.create({ projectId, clusterId: id }) },
    { field: 'clusterId', call: (c, id) => c.cluster.delete({ clusterId: id }) },
    { field: 'volumeId', call: (c, id) => c.volume.create({ projectId, volumeId: id }) },
    {
      field: 'resource',
      call: (c, id) => c.authz.check({ resource: `project:${id}`, permission: 'read_settings' }),
    },
    {
      field: 'subject',
      call: (c, id) =>
        c.authz.check({
          resource: `project:${projectId}`,
          permission: 'read_settings',
          subject: `user:${id}`,
        }),
    },
  ];

  const cases = idFields.flatMap(({ field, call }, index) =>
    BAD_IDS.map(([label, id]) => ({
      label: `${field} (#${index}) with ${label}`,
      field,
      id,
      call,
    })),
  );

  it.each(cases)('$label', async ({ field, id, call }) => {
    const owner = await app.as(userOf('owner'), BACKEND_SCOPE);
    const error = await call(owner, id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'BAD_REQUEST' });
    expect((error as Error).message).toContain(field);
  });

  it.each([
    {
      label: 'an unknown permission',
      resource: 'project:acme_ml',
      permission: untyped('fly'),
      field: 'permission',
    },
    {
      label: 'a permission of another type',
      resource: 'organization:acme',
      permission: 'ssh',
      field: 'permission',
    },
    {
      label: 'an internal permission',
      resource: 'organization:acme',
      permission: 'admin_role',
      field: 'permission',
    },
    {
      label: 'a relation, not a permission',
      resource: 'organization:acme',
      permission: 'owner',
      field: 'permission',
    },
    {
      label: 'an empty permission',
      resource: 'organization:acme',
      permission: '',
      field: 'permission',
    },
    {
      label: 'an unknown resource type',
      resource: 'team:acme',
      permission: 'view',
      field: 'resource',
    },
    { label: 'a resource without a type', resource: 'acme', permission: 'view', field: 'resource' },
    {
      label: 'a resource with an empty type',
      resource: ':acme',
      permission: 'view',
      field: 'resource',
    },
  ])('authz.check with $label', async ({ resource, permission, field }) => {
    const owner = await as('owner');
    const error = await owner.authz.check(anyPair(resource, permission)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'BAD_REQUEST' });
    expect((error as Error).message).toContain(field);
  });

  it('accepts ids at the edges of the rule: 1024 characters, every allowed symbol', async () => {
    const long = 'o'.repeat(1024);
    const symbols = 'a/b_c|d-e=f+g';
    const longUser = 'u'.repeat(1024);
    const founder = await app.as(longUser);
    expect((await founder.org.create({ orgId: long })).zedToken).not.toBe('');
    await founder.org.addMember({ orgId: long, userId: symbols, role: 'member' });
    await founder.project.create({ orgId: long, projectId: symbols });
    await founder.cluster.create({ projectId: symbols, clusterId: long });
    await founder.volume.create({ projectId: symbols, volumeId: symbols });
    await founder.project.addCollaborator({ projectId: symbols, userId: symbols });
    const member = await app.as(symbols);
    expect(
      (await member.authz.check({ resource: `cluster:${long}`, permission: 'ssh' })).allowed,
    ).toBe(true);
    expect(
      (await member.authz.check({ resource: `organization:${long}`, permission: 'write_billing' }))
        .allowed,
    ).toBe(false);
    expect(
      (await member.authz.lookupResources({ resourceType: 'volume', permission: 'read_write' }))
        .resourceIds,
    ).toEqual([symbols]);
    const { members } = await founder.org.listMembers({ orgId: long });
    expect(members).toEqual([
      { userId: longUser, role: 'owner' },
      { userId: symbols, role: 'member' },
    ]);
  });

  it('refuses unknown permissions and types in checkBulk and the lookups', async () => {
    const backend = await app.as(BACKEND_USER, BACKEND_SCOPE);
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (e: unknown) => e as Error & { code: string },
      );
    const bulk = await refusal(
      backend.authz.checkBulk({
        items: [
          { resource: `project:${projectId}`, permission: 'read_settings', subject: 'user:owner' },
          { ...anyPair(`project:${projectId}`, 'fly'), subject: 'user:owner' },
        ],
      }),
    );
    expect(bulk).toMatchObject({ code: 'BAD_REQUEST' });
    // In-process the message lists zod's issues; over HTTP the formatter writes items.1.permission.
    expect(bulk?.message).toContain('permission');
    expect(bulk?.message).toContain('items');

    const badType = await refusal(
      backend.authz.lookupResources({
        ...anyTypePair('team', 'view'),
        subject: 'user:owner',
      }),
    );
    expect(badType).toMatchObject({ code: 'BAD_REQUEST' });
    expect(badType?.message).toContain('resourceType');

    const badPermission = await refusal(
      backend.authz.lookupResources({
        ...anyTypePair('cluster', 'fly'),
        subject: 'user:owner',
      }),
    );
    expect(badPermission).toMatchObject({ code: 'BAD_REQUEST' });
    expect(badPermission?.message).toContain('permission');

    const badSubjects = await refusal(
      backend.authz.lookupSubjects(anyPair('volume:acme_vol1', 'ssh')),
    );
    expect(badSubjects).toMatchObject({ code: 'BAD_REQUEST' });
    expect(badSubjects?.message).toContain('permission');

    const badSubjectType = await refusal(
      backend.authz.check({
        resource: `project:${projectId}`,
        permission: 'read_settings',
        subject: `project:${otherProjectId}`,
      }),
    );
    expect(badSubjectType).toMatchObject({ code: 'BAD_REQUEST' });
    expect(badSubjectType?.message).toContain('subject');

    const emptyBulk = await refusal(backend.authz.checkBulk({ items: [] }));
    expect(emptyBulk).toMatchObject({ code: 'BAD_REQUEST' });
    expect(emptyBulk?.message).toContain('items');
  });

  it('refuses bad roles and bad consistency as BAD_REQUEST', async () => {
    const owner = await as('owner');
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (e: unknown) => e as Error & { code: string },
      );
    const ownerRole = await refusal(
      owner.org.addMember({
        orgId,
        userId: 'newcomer',
        role: 'owner' as unknown as 'admin',
      }),
    );
    expect(ownerRole).toMatchObject({ code: 'BAD_REQUEST' });
    expect(ownerRole?.message).toContain('role');

    const mixed = await refusal(
      owner.authz.check({
        resource: `organization:${orgId}`,
        permission: 'read_settings',
        consistency: { fullyConsistent: false } as unknown as { fullyConsistent: true },
      }),
    );
    expect(mixed).toMatchObject({ code: 'BAD_REQUEST' });
    expect(mixed?.message).toContain('consistency');
  });
});

describe('asking about another subject', () => {
  beforeAll(async () => {
    ({ app } = await buildSampleOrg());
  });
  afterAll(() => app.close());

  const aboutOwner = {
    resource: `organization:${orgId}`,
    permission: 'write_billing',
    subject: `user:${userOf('owner')}`,
  } as const;

  it('is FORBIDDEN without the authz:check scope, in check, checkBulk and lookupResources', async () => {
    for (const scope of [undefined, 'authz:read', 'profile authz:checks']) {
      const caller = await app.as(userOf('org_admin_joined'), scope);
      await expect(caller.authz.check(aboutOwner)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(
        caller.authz.checkBulk({
          items: [{ resource: aboutOwner.resource, permission: 'read_settings' }, aboutOwner],
        }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(
        caller.authz.lookupResources({
          resourceType: 'project',
          permission: 'read_settings',
          subject: aboutOwner.subject,
        }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
  });

  it('is allowed with the scope among others, and naming oneself needs no scope', async () => {
    const backend = await app.as('reporting', 'openid authz:check profile');
    expect((await backend.authz.check(aboutOwner)).allowed).toBe(true);
    const owner = await as('owner');
    expect((await owner.authz.check(aboutOwner)).allowed).toBe(true);
  });
});

describe('zedTokens and read-your-writes', () => {
  beforeEach(async () => {
    app = await createTestApp();
  });
  afterEach(() => app.close());

  it('every mutation returns a zedToken and the next read sees its write', async () => {
    const alice = await app.as('alice');
    const bob = await app.as('bob');
    const carol = await app.as('carol');
    const tokens: string[] = [];
    const wrote = async (write: Promise<{ zedToken: string }>) => {
      const { zedToken } = await write;
      expect(zedToken).toMatch(/\S/);
      tokens.push(zedToken);
    };
    const allowed = async (caller: Caller, resource: string, permission: string) =>
      (await caller.authz.check(anyPair(resource, permission))).allowed;

    await wrote(alice.org.create({ orgId: 'o1' }));
    expect(await allowed(alice, 'organization:o1', 'write_settings')).toBe(true);

    await wrote(alice.org.addMember({ orgId: 'o1', userId: 'bob', role: 'member' }));
    expect(await allowed(bob, 'organization:o1', 'read_members')).toBe(true);

    await wrote(alice.org.setMemberRole({ orgId: 'o1', userId: 'bob', role: 'admin' }));
    expect(await allowed(bob, 'organization:o1', 'invite_member')).toBe(true);

    await wrote(alice.project.create({ orgId: 'o1', projectId: 'p1' }));
    expect(await allowed(alice, 'project:p1', 'write_settings')).toBe(true);
    expect(await allowed(bob, 'project:p1', 'read_settings')).toBe(false);

    await wrote(bob.project.join({ projectId: 'p1' }));
    expect(await allowed(bob, 'project:p1', 'write_settings')).toBe(true);

    await wrote(alice.project.addCollaborator({ projectId: 'p1', userId: 'carol' }));
    expect(await allowed(carol, 'project:p1', 'read_settings')).toBe(true);
    expect(await allowed(carol, 'project:p1', 'write_settings')).toBe(false);

    await wrote(
      alice.project.setCollaboratorRole({ projectId: 'p1', userId: 'carol', role: 'admin' }),
    );
    expect(await allowed(carol, 'project:p1', 'write_settings')).toBe(true);

    await wrote(carol.cluster.create({ projectId: 'p1', clusterId: 'c1' }));
    expect(await allowed(carol, 'cluster:c1', 'scale')).toBe(true);

    await wrote(carol.volume.create({ projectId: 'p1', volumeId: 'v1' }));
    expect(await allowed(carol, 'volume:v1', 'resize')).toBe(true);

    await wrote(carol.volume.delete({ volumeId: 'v1' }));
    expect(await allowed(carol, 'volume:v1', 'view')).toBe(false);

    await wrote(carol.cluster.delete({ clusterId: 'c1' }));
    expect(await allowed(carol, 'cluster:c1', 'view')).toBe(false);

    await wrote(alice.project.removeCollaborator({ projectId: 'p1', userId: 'carol' }));
    expect(await allowed(carol, 'project:p1', 'read_settings')).toBe(false);

    await wrote(alice.org.addMember({ orgId: 'o1', userId: 'dave', role: 'admin' }));
    await wrote(alice.org.transferOwnership({ orgId: 'o1', userId: 'dave' }));
    const dave = await app.as('dave');
    const { members } = await dave.org.listMembers({ orgId: 'o1' });
    expect(members).toContainEqual({ userId: 'dave', role: 'owner' });

    await wrote(dave.org.removeMember({ orgId: 'o1', userId: 'bob' }));
    expect(await allowed(bob, 'project:p1', 'read_settings')).toBe(false);

    await wrote(carol.user.deleteAccount());
    expect(new Set(tokens).size).toBeGreaterThan(1);
  });

  it('accepts atLeastAsFresh and fullyConsistent on every query', async () => {
    const alice = await app.as('alice');
    await alice.org.create({ orgId: 'o1' });
    const { zedToken } = await alice.project.create({ orgId: 'o1', projectId: 'p1' });
    const backend = await app.as(BACKEND_USER, BACKEND_SCOPE);
    for (const consistency of [{ atLeastAsFresh: zedToken }, { fullyConsistent: true } as const]) {
      expect(
        (
          await alice.authz.check({
            resource: 'project:p1',
            permission: 'manage_roles',
            consistency,
          })
        ).allowed,
      ).toBe(true);
      expect(
        (
          await alice.authz.checkBulk({
            items: [{ resource: 'project:p1', permission: 'read_settings' }],
            consistency,
          })
        ).results,
      ).toEqual([{ allowed: true }]);
      expect(
        (
          await alice.authz.lookupResources({
            resourceType: 'project',
            permission: 'read_settings',
            consistency,
          })
        ).resourceIds,
      ).toEqual(['p1']);
      expect(
        (
          await backend.authz.lookupSubjects({
            resource: 'project:p1',
            permission: 'write_settings',
            consistency,
          })
        ).subjectIds,
      ).toEqual(['alice']);
      expect((await alice.org.listMembers({ orgId: 'o1', consistency })).members).toEqual([
        { userId: 'alice', role: 'owner' },
      ]);
      expect(
        (await alice.project.listCollaborators({ projectId: 'p1', consistency })).collaborators,
      ).toEqual([{ userId: 'alice', role: 'admin', external: false }]);
    }
  });

  it('a second instance reads a write of the first with its zedToken', async () => {
    const second = await createTestApp(app.connection);
    const alice = await app.as('alice');
    const { zedToken } = await alice.org.create({ orgId: 'shared' });
    const bobElsewhere = await second.as('alice');
    expect(
      (
        await bobElsewhere.authz.check({
          resource: 'organization:shared',
          permission: 'write_billing',
          consistency: { atLeastAsFresh: zedToken },
        })
      ).allowed,
    ).toBe(true);
  });
});

/** Tokens built by hand: what an attacker or a broken client sends. */
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

async function badAuthorizations(): Promise<Array<{ name: string; header: string | undefined }>> {
  const valid = await tokenFor('alice');
  const [header, payload] = valid.split('.');
  return [
    { name: 'missing header', header: undefined },
    { name: 'empty header', header: '' },
    { name: 'Basic scheme', header: 'Basic YWxpY2U6c2VjcmV0' },
    { name: 'Bearer without a token', header: 'Bearer ' },
    { name: 'a token that is no JWT', header: 'Bearer not-a-jwt' },
    { name: 'a token of garbage segments', header: 'Bearer aaaa.bbbb.cccc' },
    { name: 'two bearer tokens', header: `Bearer ${valid} ${valid}` },
    {
      name: 'forged signature',
      header: `Bearer ${await tokenFor('alice', { secret: 'wrong-secret' })}`,
    },
    { name: 'signature cut off', header: `Bearer ${header}.${payload}.` },
    {
      name: 'payload swapped under a valid signature',
      header: `Bearer ${header}.${base64url({ sub: 'owner', exp: now() + 3600 })}.${valid.split('.')[2]}`,
    },
    { name: 'expired', header: `Bearer ${await tokenFor('alice', { expiresIn: now() - 60 })}` },
    {
      name: 'not yet valid',
      header: `Bearer ${await tokenFor('alice', { notBefore: now() + 3600, expiresIn: now() + 7200 })}`,
    },
    {
      name: 'alg none',
      header: `Bearer ${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: 'alice', exp: now() + 3600 })}.`,
    },
    {
      name: 'HS512 with the right secret (only HS256 is accepted)',
      header: `Bearer ${await tokenFor('alice', { alg: 'HS512', secret: TEST_JWT_SECRET.repeat(3) })}`,
    },
    {
      name: 'missing sub',
      header: `Bearer ${await tokenFor(undefined)}`,
    },
    { name: 'invalid sub a*b', header: `Bearer ${await tokenFor('a*b')}` },
    { name: 'invalid sub user:alice', header: `Bearer ${await tokenFor('user:alice')}` },
    { name: 'empty sub', header: `Bearer ${await tokenFor('')}` },
    { name: 'sub of 1025 characters', header: `Bearer ${await tokenFor('a'.repeat(1025))}` },
    {
      name: 'numeric sub',
      header: `Bearer ${await tokenFor(undefined, { claims: { sub: 42 } })}`,
    },
  ];
}

describe('tokens: every bad token is UNAUTHORIZED', () => {
  let cases: Array<{ name: string; header: string | undefined }>;
  let http: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    ({ app } = await buildSampleOrg());
    cases = await badAuthorizations();
    http = await startHttpApp(app);
  });
  afterAll(async () => {
    await http.close();
    app.close();
  });

  it('in-process, on a query and on a mutation, and nothing is written', async () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
    const before = await observeSampleOrg(app);
    for (const { name, header } of cases) {
      const caller = callerWithAuthorization(app, header);
      await expect(
        caller.authz.check({ resource: `organization:${orgId}`, permission: 'read_settings' }),
        name,
      ).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      await expect(caller.org.create({ orgId: 'by_bad_token' }), name).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
      await expect(caller.user.deleteAccount(), name).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
    }
    expect(await observeSampleOrg(app)).toEqual(before);
    const owner = await as('owner');
    await expect(owner.org.create({ orgId: 'by_bad_token' })).resolves.toMatchObject({
      zedToken: expect.any(String) as string,
    });
  });

  it('over HTTP: 401 with code UNAUTHORIZED, while /healthz needs no token', async () => {
    for (const { name, header } of cases) {
      const headers: Record<string, string> = header === undefined ? {} : { authorization: header };
      const input = encodeURIComponent(
        JSON.stringify({ resource: `organization:${orgId}`, permission: 'read_settings' }),
      );
      const query = await fetch(`${http.url}/trpc/authz.check?input=${input}`, { headers });
      const body = (await query.json()) as { error?: { data?: { code?: string } } };
      expect({ name, status: query.status, code: body.error?.data?.code }).toEqual({
        name,
        status: 401,
        code: 'UNAUTHORIZED',
      });
      const mutation = await fetch(`${http.url}/trpc/org.create`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ orgId: 'by_bad_token_http' }),
      });
      expect({ name, status: mutation.status }).toEqual({ name, status: 401 });
    }
    const health = await fetch(`${http.url}/healthz`);
    expect(health.status).toBe(200);
    const client = httpTrpc(http.url, (persona) => tokenFor(persona));
    const ok = await client.query('owner', 'authz.check', {
      resource: `organization:${orgId}`,
      permission: 'read_settings',
    });
    expect(ok.status).toBe(200);
  });
});
