import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { idSchema } from '../../authz/ids.js';
import { ASSIGNABLE_ORG_ROLES } from '../../authz/schema.js';
import { authedProcedure, consistencySchema, orgProcedure, router } from '../trpc.js';

const userInput = { userId: idSchema('userId') };
const roleInput = {
  role: z.enum(ASSIGNABLE_ORG_ROLES, { error: 'role must be "admin" or "member"' }),
};

export const orgRouter = router({
  create: authedProcedure
    .input(z.object({ orgId: idSchema('orgId'), name: z.string().max(200).optional() }))
    .mutation(({ ctx, input }) => ctx.authz.createOrganization(ctx.caller.userId, input.orgId)),

  addMember: orgProcedure('invite_member')
    .input(z.object({ ...userInput, ...roleInput }))
    .mutation(({ ctx, input }) => ctx.authz.addMember(ctx.orgId, input.userId, input.role)),

  setMemberRole: orgProcedure('manage_roles')
    .input(z.object({ ...userInput, ...roleInput }))
    .mutation(({ ctx, input }) => ctx.authz.setMemberRole(ctx.orgId, input.userId, input.role)),

  removeMember: orgProcedure('remove_member')
    .input(z.object(userInput))
    .mutation(({ ctx, input }) => ctx.authz.removeMember(ctx.orgId, input.userId)),

  transferOwnership: orgProcedure('transfer_ownership')
    .input(z.object(userInput))
    .mutation(({ ctx, input }) => {
      if (input.userId === ctx.caller.userId) {
        throw new TRPCError({
          code: 'PRECONDITION_FAILED',
          message: 'userId already owns the organization',
        });
      }
      return ctx.authz.transferOwnership(ctx.orgId, ctx.caller.userId, input.userId);
    }),

  listMembers: orgProcedure('read_members')
    .input(z.object({ consistency: consistencySchema }))
    .query(async ({ ctx, input }) => ({
      members: await ctx.authz.listMembers(ctx.orgId, input.consistency),
    })),
});
