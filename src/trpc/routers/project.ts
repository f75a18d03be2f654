import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { expiresAtSchema } from '../../authz/expiry.js';
import { idSchema } from '../../authz/ids.js';
import { PROJECT_ROLES } from '../../authz/schema.js';
import {
  authedProcedure,
  consistencySchema,
  disclosureFor,
  orgProcedure,
  projectProcedure,
  router,
} from '../trpc.js';

const userInput = { userId: idSchema('userId') };
const role = z.enum(PROJECT_ROLES, { error: 'role must be "admin" or "member"' });

export const projectRouter = router({
  create: orgProcedure('create_project')
    .input(z.object({ projectId: idSchema('projectId') }))
    .mutation(({ ctx, input }) =>
      ctx.authz.projects.create(ctx.caller.userId, ctx.orgId, input.projectId),
    ),

  /** Project admins (write_settings): the project with its clusters, volumes and collaborators. */
  delete: projectProcedure('write_settings').mutation(({ ctx }) =>
    ctx.authz.projects.delete(ctx.caller.userId, ctx.orgId, ctx.projectId),
  ),

  join: authedProcedure
    .input(z.object({ projectId: idSchema('projectId') }))
    .mutation(async ({ ctx, input }) => {
      // Authorizing a write reads the head revision, as the base procedures do.
      const head = { fullyConsistent: true } as const;
      const orgId = await ctx.authz.parentOf('project', input.projectId, head);
      const project = { type: 'project', id: input.projectId };
      const disclosure = disclosureFor(ctx, head);
      // A project the caller may not see answers as one that does not exist (disclosure.ts).
      if (orgId === undefined || !(await disclosure.maySee(project))) {
        throw new TRPCError(
          await disclosure.refusal(project, 'view_name', () =>
            Promise.resolve(orgId !== undefined),
          ),
        );
      }
      const { allowed } = await ctx.spicedb.check(
        {
          resource: { type: 'organization', id: orgId },
          permission: 'join_projects',
          subject: { type: 'user', id: ctx.caller.userId },
        },
        ctx.spicedb.consistency(head),
      );
      if (!allowed) {
        const org = await disclosure.name({ type: 'organization', id: orgId });
        throw new TRPCError({
          code: 'FORBIDDEN',
          message: `only admins of ${org} may join its projects`,
        });
      }
      return ctx.authz.projects.join(ctx.caller.userId, orgId, input.projectId);
    }),

  addCollaborator: projectProcedure('add_collaborator')
    .input(z.object({ ...userInput, role: role.optional(), expiresAt: expiresAtSchema.optional() }))
    .mutation(({ ctx, input }) =>
      ctx.authz.collaborators.add(
        ctx.orgId,
        ctx.projectId,
        input.userId,
        input.role,
        input.expiresAt,
      ),
    ),

  setCollaboratorRole: projectProcedure('manage_roles')
    .input(z.object({ ...userInput, role }))
    .mutation(({ ctx, input }) =>
      ctx.authz.collaborators.setRole(ctx.orgId, ctx.projectId, input.userId, input.role),
    ),

  removeCollaborator: projectProcedure('remove_collaborator')
    .input(z.object(userInput))
    .mutation(({ ctx, input }) =>
      ctx.authz.collaborators.remove(ctx.orgId, ctx.projectId, input.userId),
    ),

  listCollaborators: projectProcedure('read_collaborators')
    .input(z.object({ consistency: consistencySchema }))
    .query(async ({ ctx, input }) => ({
      collaborators: await ctx.authz.collaborators.list(
        ctx.orgId,
        ctx.projectId,
        input.consistency,
      ),
    })),
});
