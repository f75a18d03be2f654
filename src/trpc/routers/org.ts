import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { expiresAtSchema } from '../../authz/expiry.js';
import { idSchema } from '../../authz/ids.js';
import { ASSIGNABLE_ORG_ROLES } from '../../authz/schema.js';
import { authedProcedure, consistencySchema, orgProcedure, router } from '../trpc.js';

const userInput = { userId: idSchema('userId') };
const roleInput = {
  role: z.enum(ASSIGNABLE_ORG_ROLES, { error: 'role must be "admin" or "member"' }),
};
const grantInput = z.object({ ...userInput, ...roleInput, expiresAt: expiresAtSchema.optional() });

/** The invitee's own invitation: whoever calls acts on the invitation made out to them. */
const inviteeProcedure = authedProcedure.input(z.object({ orgId: idSchema('orgId') }));

export const orgRouter = router({
  create: authedProcedure
    .input(z.object({ orgId: idSchema('orgId') }))
    .mutation(({ ctx, input }) => ctx.authz.orgs.create(ctx.caller.userId, input.orgId)),

  addMember: orgProcedure('invite_member')
    .input(grantInput)
    .mutation(({ ctx, input }) =>
      ctx.authz.orgs.addMember(ctx.orgId, input.userId, input.role, input.expiresAt),
    ),

  invite: orgProcedure('invite_member')
    .input(grantInput)
    .mutation(({ ctx, input }) =>
      ctx.authz.invitations.invite(ctx.orgId, input.userId, input.role, input.expiresAt),
    ),

  acceptInvitation: inviteeProcedure.mutation(({ ctx, input }) =>
    ctx.authz.invitations.accept(input.orgId, ctx.caller.userId),
  ),

  declineInvitation: inviteeProcedure.mutation(({ ctx, input }) =>
    ctx.authz.invitations.withdraw(input.orgId, ctx.caller.userId),
  ),

  revokeInvitation: orgProcedure('invite_member')
    .input(z.object(userInput))
    .mutation(({ ctx, input }) => ctx.authz.invitations.withdraw(ctx.orgId, input.userId)),

  listInvitations: orgProcedure('read_members')
    .input(z.object({ consistency: consistencySchema }))
    .query(async ({ ctx, input }) => ({
      invitations: await ctx.authz.invitations.list(ctx.orgId, input.consistency),
    })),

  setMemberRole: orgProcedure('manage_roles')
    .input(z.object({ ...userInput, ...roleInput }))
    .mutation(({ ctx, input }) =>
      ctx.authz.orgs.setMemberRole(ctx.orgId, input.userId, input.role),
    ),

  removeMember: orgProcedure('remove_member')
    .input(z.object(userInput))
    .mutation(({ ctx, input }) => ctx.authz.orgs.removeMember(ctx.orgId, input.userId)),

  /** Any member, the owner excepted (PRECONDITION_FAILED: they transfer ownership first). */
  leave: orgProcedure('member_role').mutation(({ ctx }) =>
    ctx.authz.orgs.leave(ctx.orgId, ctx.caller.userId),
  ),

  /** The owner alone (transfer_ownership is the owner's permission). */
  delete: orgProcedure('transfer_ownership')
    .input(z.object({ cascade: z.boolean({ error: 'cascade must be true or false' }).optional() }))
    .mutation(({ ctx, input }) =>
      ctx.authz.orgs.delete(ctx.orgId, ctx.caller.userId, input.cascade ?? false),
    ),

  transferOwnership: orgProcedure('transfer_ownership')
    .input(z.object(userInput))
    .mutation(({ ctx, input }) => {
      if (input.userId === ctx.caller.userId) {
        throw new TRPCError({
          code: 'PRECONDITION_FAILED',
          message: 'userId already owns the organization',
        });
      }
      return ctx.authz.orgs.transferOwnership(ctx.orgId, ctx.caller.userId, input.userId);
    }),

  listMembers: orgProcedure('read_members')
    .input(z.object({ consistency: consistencySchema }))
    .query(async ({ ctx, input }) => ({
      members: await ctx.authz.orgs.listMembers(ctx.orgId, input.consistency),
    })),
});
