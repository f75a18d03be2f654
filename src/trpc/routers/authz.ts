import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { explainPermission } from '../../authz/explain.js';
import { objectRefSchema, type ObjectRef } from '../../authz/ids.js';
import { isResourceType, RESOURCE_TYPES } from '../../authz/schema.js';
import type { RequestedConsistency } from '../../spicedb/consistency.js';
import type { CheckOutcome } from '../../spicedb/gateway.js';
import { BACKEND_SCOPE, type Caller } from '../auth.js';
import {
  assertPermission,
  checkShape,
  permissionField,
  subjectFor,
  subjectSchema,
} from '../check-input.js';
import type { Context } from '../context.js';
import { authedProcedure, consistencySchema, router } from '../trpc.js';
import { watchProcedure } from './watch.js';

export const MAX_BULK_ITEMS = 100;
export const MAX_LOOKUP_LIMIT = 1_000;

/** lookupSubjects reveals who holds access: callers need to be allowed to read that list. */
async function assertMayListSubjects(
  ctx: Context & { caller: Caller },
  resource: ObjectRef,
  requested: RequestedConsistency | undefined,
) {
  if (ctx.caller.scopes.has(BACKEND_SCOPE)) return;
  const subject = { type: 'user', id: ctx.caller.userId };
  const consistency = ctx.spicedb.consistency(requested);
  let target: { resource: ObjectRef; permission: string } | undefined;
  if (resource.type === 'organization') target = { resource, permission: 'read_members' };
  if (resource.type === 'project') target = { resource, permission: 'read_collaborators' };
  if (resource.type === 'cluster' || resource.type === 'volume') {
    const projectId = await ctx.authz.parentOf(resource.type, resource.id, requested);
    if (projectId !== undefined) {
      target = { resource: { type: 'project', id: projectId }, permission: 'read_collaborators' };
    }
  }
  if (resource.type === 'user' && resource.id === ctx.caller.userId) return;
  if (target !== undefined) {
    const { allowed } = await ctx.spicedb.check({ ...target, subject }, consistency);
    if (allowed) return;
  }
  throw new TRPCError({
    code: 'FORBIDDEN',
    message: `listing the subjects of ${resource.type}:${resource.id} needs read_members or read_collaborators over it, or the ${BACKEND_SCOPE} scope`,
  });
}

export const authzRouter = router({
  watch: watchProcedure,
  check: authedProcedure
    .input(z.object({ ...checkShape, consistency: consistencySchema }))
    .query(async ({ ctx, input }) => {
      assertPermission(input.resource, input.permission);
      const subject = subjectFor(ctx.caller, input.subject);
      return ctx.spicedb.check(
        { resource: input.resource, permission: input.permission, subject },
        ctx.spicedb.consistency(input.consistency),
      );
    }),

  checkBulk: authedProcedure
    .input(
      z.object({
        items: z
          .array(z.object(checkShape))
          .min(1, 'items must hold at least one check')
          .max(MAX_BULK_ITEMS, `items holds at most ${MAX_BULK_ITEMS} checks`),
        consistency: consistencySchema,
      }),
    )
    .query(async ({ ctx, input }) => {
      const items = input.items.map((item, index) => {
        assertPermission(item.resource, item.permission, `items.${index}.permission`);
        return {
          resource: item.resource,
          permission: item.permission,
          subject: subjectFor(ctx.caller, item.subject),
        };
      });
      const { results, checkedAt } = await ctx.spicedb.checkBulk(
        items,
        ctx.spicedb.consistency(input.consistency),
      );
      return {
        results: results.map((r: CheckOutcome) =>
          'allowed' in r ? { allowed: r.allowed } : { allowed: false, error: 'check failed' },
        ),
        checkedAt,
      };
    }),

  lookupResources: authedProcedure
    .input(
      z.object({
        resourceType: z.string().refine(isResourceType, {
          message: `resourceType must be one of ${RESOURCE_TYPES.join(', ')}`,
        }),
        permission: permissionField,
        subject: subjectSchema.optional(),
        limit: z.number().int().min(1).max(MAX_LOOKUP_LIMIT).optional(),
        cursor: z.string().min(1).max(8192).optional(),
        consistency: consistencySchema,
      }),
    )
    .query(async ({ ctx, input }) => {
      const type = input.resourceType;
      if (!isResourceType(type))
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'resourceType' });
      assertPermission({ type, id: '-' }, input.permission);
      const subject = subjectFor(ctx.caller, input.subject);
      return ctx.spicedb.lookupResources(
        {
          resourceType: type,
          permission: input.permission,
          subject,
          limit: input.limit ?? MAX_LOOKUP_LIMIT,
          ...(input.cursor !== undefined ? { cursor: input.cursor } : {}),
        },
        ctx.spicedb.consistency(input.consistency),
      );
    }),

  lookupSubjects: authedProcedure
    .input(
      z.object({
        resource: objectRefSchema('resource'),
        permission: permissionField,
        subjectType: z.literal('user', { error: 'subjectType must be "user"' }).optional(),
        consistency: consistencySchema,
      }),
    )
    .query(async ({ ctx, input }) => {
      assertPermission(input.resource, input.permission);
      await assertMayListSubjects(ctx, input.resource, input.consistency);
      const subjectIds = await ctx.spicedb.lookupSubjects(
        { resource: input.resource, permission: input.permission, subjectType: 'user' },
        ctx.spicedb.consistency(input.consistency),
      );
      return { subjectIds };
    }),

  /** Why `check` answers as it does: the path of relations that grants, or what would. */
  explain: authedProcedure
    .input(z.object({ ...checkShape, consistency: consistencySchema }))
    .query(async ({ ctx, input }) => {
      assertPermission(input.resource, input.permission);
      const subject = subjectFor(ctx.caller, input.subject);
      return explainPermission(
        ctx.spicedb,
        { resource: input.resource, permission: input.permission, subject },
        ctx.spicedb.consistency(input.consistency),
      );
    }),
});
