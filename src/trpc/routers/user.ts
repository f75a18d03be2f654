import { z } from 'zod';
import { authedProcedure, router } from '../trpc.js';

export const userRouter = router({
  // The caller is the account: the procedure takes no input, and refuses any it is given.
  deleteAccount: authedProcedure
    .input(z.strictObject({}, { error: 'deleteAccount takes no input' }).nullish())
    .mutation(({ ctx }) => ctx.authz.deleteAccount(ctx.caller.userId)),
});
