import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthzClient, errorCodeOf, type AuthzClient } from '../../src/client.js';
import { createTestApp, startHttpApp, type TestApp } from '../support/app.js';
import { tokenFor } from '../../testkit/tokens.js';

describe('createAuthzClient against the real HTTP server', () => {
  let app: TestApp;
  let http: { url: string; close(): Promise<void> };
  let alice: AuthzClient;

  beforeAll(async () => {
    app = await createTestApp();
    http = await startHttpApp(app);
    const token = await tokenFor('alice');
    alice = createAuthzClient({ url: `${http.url}/`, getToken: () => token });
  });
  afterAll(async () => {
    await http?.close();
    app?.close();
  });

  it('writes, checks with the write’s token, and lists projects (batched)', async () => {
    await alice.org.create.mutate({ orgId: 'acme' });
    const { zedToken } = await alice.project.create.mutate({ orgId: 'acme', projectId: 'p1' });
    // Issued together: httpBatchLink sends them in one HTTP request.
    const [check, projects] = await Promise.all([
      alice.authz.check.query({
        resource: 'project:p1',
        permission: 'create_cluster',
        consistency: { atLeastAsFresh: zedToken },
      }),
      alice.authz.lookupResources.query({ resourceType: 'project', permission: 'view_name' }),
    ]);
    expect(check.allowed).toBe(true);
    expect(projects.resourceIds).toEqual(['p1']);
  });

  it('surfaces refusals with their tRPC code', async () => {
    const anonymous = createAuthzClient({ url: http.url, getToken: () => undefined });
    const refused = anonymous.authz.check.query({
      resource: 'project:p1',
      permission: 'view_name',
    });
    await expect(refused).rejects.toSatisfy((error) => errorCodeOf(error) === 'UNAUTHORIZED');

    const bob = createAuthzClient({ url: http.url, getToken: () => tokenFor('bob') });
    await expect(bob.org.listMembers.query({ orgId: 'acme' })).rejects.toSatisfy(
      (error) => errorCodeOf(error) === 'FORBIDDEN',
    );
    // A permission of another type does not compile, and sent anyway the service refuses it.
    // @ts-expect-error ssh is a permission of clusters, not of projects
    const wrongType = alice.authz.check.query({ resource: 'project:p1', permission: 'ssh' });
    await expect(wrongType).rejects.toSatisfy((error) => errorCodeOf(error) === 'BAD_REQUEST');
  });
});
