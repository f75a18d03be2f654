// A frontend's use of the packed client. Compiled (never run) by
// test/integration/package-consumer.test.ts: every @ts-expect-error below must meet an error,
// so a client whose typed pairs stopped working fails the compile.
import {
  createAuthzClient,
  errorCodeOf,
  type AuthzOutputs,
  type CheckPair,
  type ResourceTypePair,
} from 'authz-service/client';

const authz = createAuthzClient({
  url: 'https://authz.example',
  getToken: () => 'a.jwt.token',
  link: 'batch0',
});

export async function rightCalls(): Promise<void> {
  const check: AuthzOutputs['authz']['check'] = await authz.authz.check.query({
    resource: 'cluster:c1',
    permission: 'ssh',
  });
  const allowed: boolean = check.allowed;

  const bulk = await authz.authz.checkBulk.query({
    items: [
      { resource: 'project:p1', permission: 'read_settings' },
      { resource: 'volume:v1', permission: 'read_write', subject: 'user:bob' },
    ],
    consistency: { fullyConsistent: true },
  });
  const first: boolean | undefined = bulk.results[0]?.allowed;

  const { resourceIds, cursor } = await authz.authz.lookupResources.query({
    resourceType: 'project',
    permission: 'view_name',
    limit: 100,
  });
  const ids: string[] = resourceIds;
  const next: string | undefined = cursor;

  const { subjectIds } = await authz.authz.lookupSubjects.query({
    resource: 'organization:acme',
    permission: 'read_members',
  });
  await authz.authz.explain.query({ resource: 'project:p1', permission: 'write_settings' });

  const { zedToken } = await authz.project.addCollaborator.mutate({
    projectId: 'p1',
    userId: 'bob',
  });
  await authz.project.listCollaborators.query({
    projectId: 'p1',
    consistency: { atLeastAsFresh: zedToken },
  });

  const sub = authz.authz.watch.subscribe(
    { checks: [{ resource: 'cluster:c1', permission: 'ssh' }] },
    { onData: ({ data }) => console.log(data.resource, data.permission, data.allowed) },
  );
  sub.unsubscribe();

  // Pairs built elsewhere keep their typing.
  const pair: CheckPair<'volume'> = { resource: 'volume:v1', permission: 'resize' };
  await authz.authz.check.query(pair);
  const typePair: ResourceTypePair = { resourceType: 'cluster', permission: 'view' };
  await authz.authz.lookupResources.query(typePair);

  console.log(allowed, first, ids, next, subjectIds);
}

export async function wrongCalls(): Promise<void> {
  try {
    // @ts-expect-error ssh is a permission of clusters, not of projects
    await authz.authz.check.query({ resource: 'project:p1', permission: 'ssh' });
    await authz.authz.checkBulk.query({
      // @ts-expect-error resize is a permission of volumes
      items: [{ resource: 'cluster:c1', permission: 'resize' }],
    });
    // @ts-expect-error a misspelt permission
    await authz.authz.check.query({ resource: 'cluster:c1', permission: 'shh' });
    // @ts-expect-error an unknown resource type
    await authz.authz.check.query({ resource: 'gpu:c1', permission: 'ssh' });
    // @ts-expect-error ssh is not a permission of projects
    await authz.authz.lookupResources.query({ resourceType: 'project', permission: 'ssh' });
    // @ts-expect-error read_billing is a permission of organizations
    await authz.authz.lookupSubjects.query({ resource: 'cluster:c1', permission: 'read_billing' });
    // @ts-expect-error delete is a permission of clusters
    await authz.authz.explain.query({ resource: 'volume:v1', permission: 'delete' });
    authz.authz.watch.subscribe(
      // @ts-expect-error view_profile is a permission of users
      { checks: [{ resource: 'project:p1', permission: 'view_profile' }] },
      { onData: () => undefined },
    );
    // @ts-expect-error no such procedure
    await authz.authz.chek.query({ resource: 'cluster:c1', permission: 'ssh' });
  } catch (error) {
    const code: string | undefined = errorCodeOf(error);
    console.log(code);
  }
}
