import { authedProcedure, router } from '../trpc.js';

export const userRouter = router({
  deleteAccount: authedProcedure.mutation(({ ctx }) => ctx.authz.deleteAccount(ctx.caller.userId)),
});
