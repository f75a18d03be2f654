import { describe, expect, it, onTestFinished } from 'vitest';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { anyPair } from '../../testkit/check-pairs.js';

/**
 * authz.explain against a real SpiceDB: alice owns acme and created project p1 (so she is its
 * admin) with cluster c1; bob is an organization member and a project member; carol is an
 * external collaborator (project member, not in the organization). Each test has a SpiceDB of
 * its own (a fresh preshared key, its own datastore) with that data written, so no test reads
 * what another changed.
 */
async function sampleApp(): Promise<TestApp> {
  const app = await createTestApp();
  onTestFinished(() => app.close());
  const alice = await app.as('alice');
  await alice.org.create({ orgId: 'acme' });
  await alice.org.addMember({ orgId: 'acme', userId: 'bob', role: 'member' });
  await alice.project.create({ orgId: 'acme', projectId: 'p1' });
  await alice.project.addCollaborator({ projectId: 'p1', userId: 'bob' });
  await alice.project.addCollaborator({ projectId: 'p1', userId: 'carol' });
  await alice.cluster.create({ projectId: 'p1', clusterId: 'c1' });
  return app;
}

describe('authz.explain', () => {
  it('names the project admin relation that lets the project admin delete a cluster', async () => {
    const app = await sampleApp();
    const alice = await app.as('alice');
    const answer = await alice.authz.explain({ resource: 'cluster:c1', permission: 'delete' });
    expect(answer).toMatchObject({
      allowed: true,
      subject: 'user:alice',
      resource: 'cluster:c1',
      permission: 'delete',
      path: ['user:alice', 'project:p1#admin', 'cluster:c1#delete'],
      missing: [],
    });
    expect(answer.checkedAt).not.toBe('');
    expect(answer.relationships.sort()).toEqual([
      'cluster:c1#project@project:p1',
      'project:p1#admin@user:alice',
    ]);
    expect(answer.rules).toContain('cluster#delete = project->admin_role');
    expect(answer.explanation).toContain('user:alice is admin of project:p1');
  });

  it('explains an external collaborator reaching a cluster through their project membership', async () => {
    const app = await sampleApp();
    const carol = await app.as('carol');
    const answer = await carol.authz.explain({ resource: 'cluster:c1', permission: 'ssh' });
    expect(answer).toMatchObject({
      allowed: true,
      path: ['user:carol', 'project:p1#member', 'cluster:c1#ssh'],
    });
    expect(answer.relationships.sort()).toEqual([
      'cluster:c1#project@project:p1',
      'project:p1#member@user:carol',
    ]);
    // At organization level the same collaborator only sees the name, through the project.
    const name = await carol.authz.explain({
      resource: 'organization:acme',
      permission: 'view_name',
    });
    expect(name.allowed).toBe(true);
    expect(name.path).toEqual(['user:carol', 'project:p1#member', 'organization:acme#view_name']);
    expect(name.relationships).toContain('organization:acme#project@project:p1');
    const billing = await carol.authz.explain({
      resource: 'organization:acme',
      permission: 'read_billing',
    });
    expect(billing.allowed).toBe(false);
    expect(billing.missing).toEqual([
      'organization:acme#admin',
      'organization:acme#member',
      'organization:acme#owner',
    ]);
  });

  it('refuses a project member deleting a cluster and names the relations that would grant it', async () => {
    const app = await sampleApp();
    const bob = await app.as('bob');
    const answer = await bob.authz.explain({ resource: 'cluster:c1', permission: 'delete' });
    expect(answer).toMatchObject({ allowed: false, path: [], relationships: [] });
    // Project admin would do; as a project member, being an organization admin would too.
    expect(answer.missing[0]).toBe('organization:acme#admin');
    expect(answer.missing).toEqual([
      'organization:acme#admin',
      'organization:acme#owner',
      'project:p1#admin',
    ]);
    expect(answer.explanation).toMatch(/^no relation grants cluster:c1#delete to user:bob/);
    expect(answer.explanation).toContain('project:p1#admin');
    // The answer agrees with check.
    expect((await bob.authz.check({ resource: 'cluster:c1', permission: 'delete' })).allowed).toBe(
      false,
    );
  });

  it('names the missing parent when a cluster belongs to no project', async () => {
    const app = await sampleApp();
    const alice = await app.as('alice');
    const answer = await alice.authz.explain({ resource: 'cluster:ghost', permission: 'view' });
    expect(answer).toMatchObject({ allowed: false, missing: ['cluster:ghost#project'] });
  });

  it('shows an organization admin who is a project member holding project admin through the intersection', async () => {
    const app = await sampleApp();
    const alice = await app.as('alice');
    await alice.org.setMemberRole({ orgId: 'acme', userId: 'bob', role: 'admin' });
    const bob = await app.as('bob');
    const answer = await bob.authz.explain({ resource: 'cluster:c1', permission: 'delete' });
    expect(answer.allowed).toBe(true);
    expect(answer.path).toEqual([
      'user:bob',
      '(project:p1#member & organization:acme#admin → project:p1#admin_role)',
      'cluster:c1#delete',
    ]);
    expect(answer.relationships.sort()).toEqual([
      'cluster:c1#project@project:p1',
      'organization:acme#admin@user:bob',
      'project:p1#member@user:bob',
      'project:p1#organization@organization:acme',
    ]);
    expect(answer.rules).toContain(
      'project#admin_role = admin + (member & organization->admin_role)',
    );
  });

  it('finds the one project of several through which an external collaborator sees the organization', async () => {
    const app = await sampleApp();
    const alice = await app.as('alice');
    // acme's projects are one sub-problem of SpiceDB's (project:p0,p1,p2#collaborator).
    await alice.project.create({ orgId: 'acme', projectId: 'p0' });
    await alice.project.create({ orgId: 'acme', projectId: 'p2' });
    const carol = await app.as('carol');
    const answer = await carol.authz.explain({
      resource: 'organization:acme',
      permission: 'view_name',
    });
    expect(answer.path).toEqual(['user:carol', 'project:p1#member', 'organization:acme#view_name']);
    expect(answer.relationships.sort()).toEqual([
      'organization:acme#project@project:p1',
      'project:p1#member@user:carol',
    ]);
  });

  it('explains a permission that needs no relationship (a user views their own profile)', async () => {
    const app = await sampleApp();
    const alice = await app.as('alice');
    const own = await alice.authz.explain({ resource: 'user:alice', permission: 'view_profile' });
    expect(own).toMatchObject({
      allowed: true,
      path: ['user:alice', 'user:alice#view_profile'],
      relationships: [],
      rules: ['user#view_profile = self'],
    });
  });

  it('validates input and subject like authz.check', async () => {
    const app = await sampleApp();
    const bob = await app.as('bob');
    await expect(bob.authz.explain(anyPair('cluster:c1', 'read_billing'))).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(
      bob.authz.explain({ resource: 'cluster:c#1', permission: 'delete' }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(
      bob.authz.explain({ resource: 'cluster:c1', permission: 'delete', subject: 'user:alice' }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const backend = await app.as('billing-service', BACKEND_SCOPE);
    const answer = await backend.authz.explain({
      resource: 'cluster:c1',
      permission: 'delete',
      subject: 'user:alice',
    });
    expect(answer).toMatchObject({ allowed: true, subject: 'user:alice' });
  });
});
