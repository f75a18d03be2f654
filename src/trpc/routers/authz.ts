import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { explainPermission } from '../../authz/explain.js';
import { DISCLOSURE, redactRefusal } from '../../authz/disclosure.js';
import { objectRefSchema } from '../../authz/ids.js';
import { isResourceType, RESOURCE_TYPES } from '../../authz/schema.js';
import type { CheckOutcome } from '../../spicedb/gateway.js';
import { BACKEND_SCOPE } from '../auth.js';
import {
  assertPermission,
  checkShape,
  permissionField,
  subjectFor,
  subjectSchema,
  typedPair,
  typedTypePair,
  type ConsistencyInput,
} from '../check-input.js';
import { consistencyRefusal, toTRPCError } from '../spicedb-errors.js';
import { authedProcedure, consistencySchema, disclosureFor, router } from '../trpc.js';
import { watchProcedure } from './watch.js';

export const MAX_BULK_ITEMS = 100;

const checkItemInput = typedPair<{ subject?: string | undefined }>();
const checkPairInput = typedPair<{
  subject?: string | undefined;
  consistency?: ConsistencyInput | undefined;
}>();
const lookupResourcesInput = typedTypePair<{
  subject?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
  consistency?: ConsistencyInput | undefined;
}>();
const lookupSubjectsInput = typedPair<{
  subjectType?: 'user' | undefined;
  consistency?: ConsistencyInput | undefined;
}>();
export const MAX_LOOKUP_LIMIT = 1_000;

/** An item's own answer, or its own error code: one failed item is not a "no". */
function bulkResult(outcome: CheckOutcome) {
  if ('allowed' in outcome) return { allowed: outcome.allowed };
  const error = toTRPCError(outcome.error, 'check failed');
  return { allowed: false, error: { code: error.code, message: error.message } };
}

export const authzRouter = router({
  watch: watchProcedure,
  check: authedProcedure
    .input(checkPairInput(z.object({ ...checkShape, consistency: consistencySchema })))
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
          .array(checkItemInput(z.object(checkShape)))
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
      // The consistency is the whole request's: a token SpiceDB refuses refuses the request.
      for (const r of results) {
        const refusal = 'error' in r ? consistencyRefusal(r.error) : undefined;
        if (refusal !== undefined) throw refusal;
      }
      return { results: results.map(bulkResult), checkedAt };
    }),

  lookupResources: authedProcedure
    .input(
      lookupResourcesInput(
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
      ),
    )
    .query(async ({ ctx, input }) => {
      const type = input.resourceType;
      if (!isResourceType(type))
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'resourceType' });
      assertPermission({ type, id: '-' }, input.permission);
      const subject = subjectFor(ctx.caller, input.subject);
      const page = await ctx.spicedb.lookupResources(
        {
          resourceType: type,
          permission: input.permission,
          subject,
          limit: input.limit ?? MAX_LOOKUP_LIMIT,
          ...(input.cursor !== undefined ? { cursor: input.cursor } : {}),
        },
        ctx.spicedb.consistency(input.consistency),
      );
      const disclosure = disclosureFor(ctx, input.consistency);
      if (disclosure.learnsEverything || input.permission === DISCLOSURE[type].existence) {
        return page;
      }
      // Holding a permission on an object does not by itself say the caller may see it.
      const visible = await disclosure.visible(page.resourceIds.map((id) => ({ type, id })));
      return {
        ...page,
        resourceIds: page.resourceIds.filter((id) => visible.has(`${type}:${id}`)),
      };
    }),

  lookupSubjects: authedProcedure
    .input(
      lookupSubjectsInput(
        z.object({
          resource: objectRefSchema('resource'),
          permission: permissionField,
          subjectType: z.literal('user', { error: 'subjectType must be "user"' }).optional(),
          consistency: consistencySchema,
        }),
      ),
    )
    .query(async ({ ctx, input }) => {
      assertPermission(input.resource, input.permission);
      const disclosure = disclosureFor(ctx, input.consistency);
      if (!(await disclosure.mayListPeople(input.resource))) {
        throw new TRPCError({
          code: 'FORBIDDEN',
          message: `listing the subjects of ${await disclosure.name(input.resource)} needs read_members or read_collaborators over it, or the ${BACKEND_SCOPE} scope`,
        });
      }
      const [subjectIds, visible] = await Promise.all([
        ctx.spicedb.lookupSubjects(
          { resource: input.resource, permission: input.permission, subjectType: 'user' },
          ctx.spicedb.consistency(input.consistency),
        ),
        disclosure.visibleUsers(input.resource),
      ]);
      // Only the users the caller could find through org.listMembers / project.listCollaborators.
      return { subjectIds: visible ? subjectIds.filter((id) => visible.has(id)) : subjectIds };
    }),

  /** Why `check` answers as it does: the path of relations that grants, or what would. */
  explain: authedProcedure
    .input(checkPairInput(z.object({ ...checkShape, consistency: consistencySchema })))
    .query(async ({ ctx, input }) => {
      assertPermission(input.resource, input.permission);
      const subject = subjectFor(ctx.caller, input.subject);
      const answer = await explainPermission(
        ctx.spicedb,
        { resource: input.resource, permission: input.permission, subject },
        ctx.spicedb.consistency(input.consistency),
      );
      // A refusal names only objects the caller may see (CONTRACT "What a caller may learn").
      return redactRefusal(answer, disclosureFor(ctx, input.consistency));
    }),
});
