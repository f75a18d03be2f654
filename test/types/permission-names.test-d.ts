import type { inferRouterInputs } from '@trpc/server';
import { describe, expectTypeOf, it } from 'vitest';
import type { Permission, PublicPermission, QualifiedPermission } from '../../src/authz/schema.js';
import type { CheckPair } from '../../src/authz/check-pair.js';
import type { createAuthzClient } from '../../src/client.js';
import type { AppRouter } from '../../src/trpc/routers/_app.js';

type Inputs = inferRouterInputs<AppRouter>;
type CheckInput = Inputs['authz']['check'];
type CheckBulkItem = Inputs['authz']['checkBulk']['items'][number];

describe('permission names are types', () => {
  it('accepts every declared type#permission and refuses typos and other types’ names', () => {
    expectTypeOf<'cluster#ssh'>().toExtend<QualifiedPermission>();
    expectTypeOf<'cluster#sssh'>().not.toExtend<QualifiedPermission>();
    expectTypeOf<'volume#ssh'>().not.toExtend<QualifiedPermission>();
    expectTypeOf<'admin_role'>().not.toExtend<PublicPermission<'organization'>>();
    expectTypeOf<'admin_role'>().toExtend<Permission<'organization'>>();
  });
});

describe('authz.check takes a typed pair: a resource of a type and one of that type’s permissions', () => {
  it('in the router’s inferred input', () => {
    expectTypeOf<{ resource: 'cluster:c1'; permission: 'ssh' }>().toExtend<CheckInput>();
    expectTypeOf<{ resource: 'project:p1'; permission: 'read_settings' }>().toExtend<CheckInput>();
    expectTypeOf<{
      resource: 'cluster:c1';
      permission: 'ssh';
      subject: 'user:bob';
      consistency: { fullyConsistent: true };
    }>().toExtend<CheckInput>();
    // The wire format stays a string `type:id` and a string permission.
    expectTypeOf<CheckInput['resource']>().toExtend<string>();
    expectTypeOf<CheckInput['permission']>().toEqualTypeOf<PublicPermission>();
  });

  it('refuses a permission of another type, a typo, an unknown type and a bare id', () => {
    expectTypeOf<{ resource: 'project:p1'; permission: 'ssh' }>().not.toExtend<CheckInput>();
    expectTypeOf<{ resource: 'cluster:c1'; permission: 'sssh' }>().not.toExtend<CheckInput>();
    expectTypeOf<{ resource: 'gpu:c1'; permission: 'ssh' }>().not.toExtend<CheckInput>();
    expectTypeOf<{ resource: 'c1'; permission: 'ssh' }>().not.toExtend<CheckInput>();
    expectTypeOf<{ resource: string; permission: 'ssh' }>().not.toExtend<CheckInput>();
  });

  it('for every item of checkBulk too', () => {
    expectTypeOf<{ resource: 'volume:v1'; permission: 'resize' }>().toExtend<CheckBulkItem>();
    expectTypeOf<{ resource: 'volume:v1'; permission: 'ssh' }>().not.toExtend<CheckBulkItem>();
  });

  it('is what CheckPair names, for callers building pairs of their own', () => {
    expectTypeOf<CheckPair<'cluster'>>().toExtend<CheckInput>();
    expectTypeOf<{ resource: 'cluster:c1'; permission: 'resize' }>().not.toExtend<CheckPair>();
  });

  it('reaches the typed client', () => {
    type Client = ReturnType<typeof createAuthzClient>;
    type ClientCheck = Parameters<Client['authz']['check']['query']>[0];
    expectTypeOf<{ resource: 'cluster:c1'; permission: 'ssh' }>().toExtend<ClientCheck>();
    expectTypeOf<{ resource: 'project:p1'; permission: 'ssh' }>().not.toExtend<ClientCheck>();
  });
});
