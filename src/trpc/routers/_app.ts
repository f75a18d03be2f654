import { router } from '../trpc.js';
import { authzRouter } from './authz.js';
import { clusterRouter, volumeRouter } from './infrastructure.js';
import { orgRouter } from './org.js';
import { projectRouter } from './project.js';
import { userRouter } from './user.js';

export const appRouter = router({
  org: orgRouter,
  project: projectRouter,
  cluster: clusterRouter,
  volume: volumeRouter,
  user: userRouter,
  authz: authzRouter,
});

export type AppRouter = typeof appRouter;
