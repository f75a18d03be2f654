import type { inferRouterInputs } from '@trpc/server';
import { describe, expectTypeOf, it } from 'vitest';
import type { CheckPair, ResourceTypePair } from '../../src/authz/check-pair.js';
import type { PublicPermission } from '../../src/authz/schema.js';
import type { AuthzClient } from '../../src/client.js';
import type { ConsistencyInput } from '../../src/trpc/check-input.js';
import type { consistencySchema } from '../../src/trpc/consistency-input.js';
import type { AppRouter } from '../../src/trpc/routers/_app.js';
import type { z } from 'zod';

type Inputs = inferRouterInputs<AppRouter>['authz'];

// Type-level only: vitest's typecheck mode compiles this file and runs none of it.
declare const authz: AuthzClient;

describe('authz.lookupResources takes a typed pair of a resource type and its permission', () => {
  type Input = Inputs['lookupResources'];

  it('accepts a type with one of its permissions, with the optional fields', () => {
    expectTypeOf<{ resourceType: 'project'; permission: 'view_name' }>().toExtend<Input>();
    expectTypeOf<{
      resourceType: 'cluster';
      permission: 'ssh';
      subject: 'user:bob';
      limit: 10;
      cursor: 'abc';
      consistency: { fullyConsistent: true };
    }>().toExtend<Input>();
    expectTypeOf<ResourceTypePair<'volume'>>().toExtend<Input>();
  });

  it('refuses another type’s permission, a typo and an unknown type', () => {
    expectTypeOf<{ resourceType: 'project'; permission: 'ssh' }>().not.toExtend<Input>();
    expectTypeOf<{ resourceType: 'cluster'; permission: 'sssh' }>().not.toExtend<Input>();
    expectTypeOf<{ resourceType: 'team'; permission: 'view' }>().not.toExtend<Input>();
    expectTypeOf<{ resourceType: string; permission: 'view' }>().not.toExtend<Input>();
    // Internal permissions are not part of the surface.
    expectTypeOf<{
      resourceType: 'organization';
      permission: 'admin_role';
    }>().not.toExtend<Input>();
  });

  it('in the typed client', () => {
    expectTypeOf(authz.authz.lookupResources.query).toBeCallableWith({
      resourceType: 'cluster',
      permission: 'ssh',
    });
    expectTypeOf(authz.authz.lookupResources.query).toBeCallableWith({
      resourceType: 'project',
      permission: 'read_settings',
      limit: 100,
    });
    // @ts-expect-error ssh is a permission of clusters, not of projects
    expectTypeOf(authz.authz.lookupResources.query).toBeCallableWith({
      resourceType: 'project',
      permission: 'ssh',
    });
  });
});

describe('authz.lookupSubjects takes a typed pair of a resource and its permission', () => {
  type Input = Inputs['lookupSubjects'];

  it('accepts a resource with one of its type’s permissions', () => {
    expectTypeOf<{ resource: 'project:p1'; permission: 'read_settings' }>().toExtend<Input>();
    expectTypeOf<{
      resource: 'organization:acme';
      permission: 'read_members';
      subjectType: 'user';
      consistency: { atLeastAsFresh: string };
    }>().toExtend<Input>();
  });

  it('refuses another type’s permission, a bare id and a subject type other than user', () => {
    expectTypeOf<{ resource: 'project:p1'; permission: 'ssh' }>().not.toExtend<Input>();
    expectTypeOf<{ resource: 'p1'; permission: 'read_settings' }>().not.toExtend<Input>();
    expectTypeOf<{
      resource: 'project:p1';
      permission: 'read_settings';
      subjectType: 'team';
    }>().not.toExtend<Input>();
  });

  it('in the typed client', () => {
    expectTypeOf(authz.authz.lookupSubjects.query).toBeCallableWith({
      resource: 'volume:v1',
      permission: 'read_write',
    });
    // @ts-expect-error resize is a permission of volumes, not of clusters
    expectTypeOf(authz.authz.lookupSubjects.query).toBeCallableWith({
      resource: 'cluster:c1',
      permission: 'resize',
    });
  });
});

describe('authz.explain takes the typed pair of authz.check', () => {
  type Input = Inputs['explain'];

  it('accepts what check accepts and refuses what check refuses', () => {
    expectTypeOf<{
      resource: 'cluster:c1';
      permission: 'ssh';
      subject: 'user:bob';
    }>().toExtend<Input>();
    expectTypeOf<CheckPair<'organization'>>().toExtend<Input>();
    expectTypeOf<{ resource: 'cluster:c1'; permission: 'read_billing' }>().not.toExtend<Input>();
    expectTypeOf<{ resource: 'gpu:c1'; permission: 'ssh' }>().not.toExtend<Input>();
  });

  it('in the typed client', () => {
    expectTypeOf(authz.authz.explain.query).toBeCallableWith({
      resource: 'project:p1',
      permission: 'write_settings',
    });
    // @ts-expect-error read_billing is a permission of organizations, not of clusters
    expectTypeOf(authz.authz.explain.query).toBeCallableWith({
      resource: 'cluster:c1',
      permission: 'read_billing',
    });
  });
});

describe('authz.watch takes typed pairs in checks', () => {
  type Check = Inputs['watch']['checks'][number];

  it('every check is a typed pair', () => {
    expectTypeOf<{ resource: 'cluster:c1'; permission: 'ssh' }>().toExtend<Check>();
    expectTypeOf<{
      resource: 'cluster:c1';
      permission: 'ssh';
      subject: 'user:bob';
    }>().toExtend<Check>();
    expectTypeOf<{ resource: 'project:p1'; permission: 'ssh' }>().not.toExtend<Check>();
    expectTypeOf<{ resource: string; permission: 'view_name' }>().not.toExtend<Check>();
  });

  it('in the typed client', () => {
    type ClientChecks = Parameters<AuthzClient['authz']['watch']['subscribe']>[0]['checks'];
    expectTypeOf<[{ resource: 'cluster:c1'; permission: 'ssh' }]>().toExtend<ClientChecks>();
    expectTypeOf<[{ resource: 'project:p1'; permission: 'ssh' }]>().not.toExtend<ClientChecks>();
    // Never run (typecheck mode compiles only): the directive fails if the wrong pair compiles.
    const onData = () => undefined;
    authz.authz.watch.subscribe(
      { checks: [{ resource: 'cluster:c1', permission: 'ssh' }] },
      { onData },
    );
    authz.authz.watch.subscribe(
      {
        checks: [
          { resource: 'cluster:c1', permission: 'ssh' },
          // @ts-expect-error the second check pairs a project with a cluster permission
          { resource: 'project:p1', permission: 'ssh' },
        ],
      },
      { onData },
    );
  });
});

describe('the wire format stays plain strings', () => {
  it('resource, resourceType and permission are strings; consistency is the schema’s input', () => {
    expectTypeOf<Inputs['lookupResources']['resourceType']>().toExtend<string>();
    expectTypeOf<Inputs['lookupResources']['permission']>().toEqualTypeOf<PublicPermission>();
    expectTypeOf<Inputs['lookupSubjects']['resource']>().toExtend<string>();
    expectTypeOf<Inputs['explain']['permission']>().toEqualTypeOf<PublicPermission>();
    expectTypeOf<ConsistencyInput | undefined>().toEqualTypeOf<z.input<typeof consistencySchema>>();
  });
});
