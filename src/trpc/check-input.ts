/** The input pieces every check-shaped procedure shares (authz.check, checkBulk, explain, watch). */
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { CheckPair, ResourceTypePair } from '../authz/check-pair.js';
import { objectRefSchema, type ObjectRef } from '../authz/ids.js';
import { isPublicPermission, PUBLIC_PERMISSION_NAMES } from '../authz/schema.js';
import { BACKEND_SCOPE, type Caller } from './auth.js';
import type { consistencySchema } from './consistency-input.js';

/**
 * `consistency` as callers write it: the same as the schema's input, spelt out so the typed
 * client's declarations need no zod (the assertion below fails to compile if they part).
 */
export type ConsistencyInput = { atLeastAsFresh: string } | { fullyConsistent: true };
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const consistencyInputIsTheSchemas: Same<
  ConsistencyInput | undefined,
  z.input<typeof consistencySchema>
> = true;
void consistencyInputIsTheSchemas;

export const subjectSchema = objectRefSchema('subject').refine((ref) => ref.type === 'user', {
  message: 'subject must be a user, written user:ID',
});

/** Every permission name of schema.zed: typed clients get a compile error for a misspelt one. */
export const permissionField = z.enum(PUBLIC_PERMISSION_NAMES, {
  error: (issue) =>
    typeof issue.input === 'string'
      ? `"${issue.input}" is not a permission of any resource type`
      : 'must be a permission name',
});

/** `{resource, permission}` where the permission belongs to the resource's type. */
export const checkShape = {
  resource: objectRefSchema('resource'),
  permission: permissionField,
  subject: subjectSchema.optional(),
};

/**
 * `schema`'s run-time validation under a narrower compile-time input `Typed`: callers' editors
 * refuse a permission of another type, while a bad pair sent anyway (plain JSON, a cast) still
 * meets the object schema and `assertPermission`, BAD_REQUEST naming the field. The wire format
 * is the schema's: only the type callers see is narrower.
 */
export function typedInput<Typed extends object>() {
  // The intersection refuses a schema whose input would not take every typed value.
  return <S extends z.ZodType>(schema: S & (Typed extends z.input<S> ? unknown : never)) =>
    z.custom<Typed>(() => true).pipe(schema as unknown as z.ZodType<z.output<S>, Typed>);
}

/** `{ resource: 'cluster:c1', permission: 'ssh', ...Rest }` (check, checkBulk, explain, watch). */
export const typedPair = <Rest extends object>() => typedInput<CheckPair & Rest>();

/** `{ resourceType: 'cluster', permission: 'ssh', ...Rest }` (lookupResources). */
export const typedTypePair = <Rest extends object>() => typedInput<ResourceTypePair & Rest>();

export function assertPermission(ref: ObjectRef, permission: string, path = 'permission'): void {
  if (!isPublicPermission(ref.type, permission)) {
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: `${path}: "${permission}" is not a permission of ${ref.type}`,
    });
  }
}

/** Asking about someone else needs the backend scope; otherwise the subject is the caller. */
export function subjectFor(caller: Caller, subject: ObjectRef | undefined): ObjectRef {
  if (subject === undefined || subject.id === caller.userId) {
    return { type: 'user', id: caller.userId };
  }
  if (!caller.scopes.has(BACKEND_SCOPE)) {
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: `asking about another subject needs the ${BACKEND_SCOPE} scope`,
    });
  }
  return subject;
}
