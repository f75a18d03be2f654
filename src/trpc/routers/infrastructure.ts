import { z } from 'zod';
import { idSchema } from '../../authz/ids.js';
import { childProcedure, projectProcedure, router } from '../trpc.js';

export const clusterRouter = router({
  create: projectProcedure('create_cluster')
    .input(z.object({ clusterId: idSchema('clusterId') }))
    .mutation(({ ctx, input }) => ctx.authz.createChild('cluster', ctx.projectId, input.clusterId)),

  delete: childProcedure('cluster', 'clusterId', 'delete').mutation(({ ctx }) =>
    ctx.authz.deleteChild('cluster', ctx.childId, ctx.projectId),
  ),
});

export const volumeRouter = router({
  create: projectProcedure('create_volume')
    .input(z.object({ volumeId: idSchema('volumeId') }))
    .mutation(({ ctx, input }) => ctx.authz.createChild('volume', ctx.projectId, input.volumeId)),

  // Deleting a volume is a control-plane operation: the seed's "resize" row is its only one.
  delete: childProcedure('volume', 'volumeId', 'resize').mutation(({ ctx }) =>
    ctx.authz.deleteChild('volume', ctx.childId, ctx.projectId),
  ),
});
