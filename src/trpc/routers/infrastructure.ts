import { z } from 'zod';
import { idSchema } from '../../authz/ids.js';
import { childrenOf } from '../../authz/children.js';
import { childProcedure, consistencySchema, projectProcedure, router } from '../trpc.js';

export const clusterRouter = router({
  create: projectProcedure('create_cluster')
    .input(z.object({ clusterId: idSchema('clusterId') }))
    .mutation(({ ctx, input }) =>
      ctx.authz.projectChildren.create('cluster', ctx.projectId, input.clusterId),
    ),

  delete: childProcedure('cluster', 'clusterId', 'delete').mutation(({ ctx }) =>
    ctx.authz.projectChildren.delete('cluster', ctx.childId, ctx.projectId),
  ),

  /** The project's clusters: their existence is `cluster#view`, every project collaborator's. */
  list: projectProcedure('read_settings')
    .input(z.object({ consistency: consistencySchema }))
    .query(async ({ ctx, input }) => ({
      clusterIds: await childrenOf(ctx.spicedb, 'cluster', ctx.projectId, input.consistency),
    })),
});

export const volumeRouter = router({
  create: projectProcedure('create_volume')
    .input(z.object({ volumeId: idSchema('volumeId') }))
    .mutation(({ ctx, input }) =>
      ctx.authz.projectChildren.create('volume', ctx.projectId, input.volumeId),
    ),

  // Deleting a volume is a control-plane operation: the seed's "resize" row is its only one.
  delete: childProcedure('volume', 'volumeId', 'resize').mutation(({ ctx }) =>
    ctx.authz.projectChildren.delete('volume', ctx.childId, ctx.projectId),
  ),

  /** The project's volumes: their existence is `volume#view`, every project collaborator's. */
  list: projectProcedure('read_settings')
    .input(z.object({ consistency: consistencySchema }))
    .query(async ({ ctx, input }) => ({
      volumeIds: await childrenOf(ctx.spicedb, 'volume', ctx.projectId, input.consistency),
    })),
});
