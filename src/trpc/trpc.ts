import { getTRPCErrorFromUnknown, initTRPC, TRPCError } from '@trpc/server';
import { ZodError, z } from 'zod';
import { DomainError } from '../authz/errors.js';
import { idSchema } from '../authz/ids.js';
import type { InternalPermission, PublicPermission } from '../authz/schema.js';
import type { RequestedConsistency } from '../spicedb/consistency.js';
import { toTRPCError } from './spicedb-errors.js';
import { observeProcedure } from '../observability/request-context.js';
import { targetOf, zedTokenOf } from '../audit/audit-trail.js';
import { Disclosure } from '../authz/disclosure.js';
import { AuthError, BACKEND_SCOPE, type Caller } from './auth.js';
import { assertConsistencyInput, consistencySchema } from './consistency-input.js';
import { RateLimited } from './rate-limit.js';
import { refuseNames } from './refuse-names.js';
import type { Context } from './context.js';

export { consistencySchema };

function describeZodError(error: ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.');
      return path && !issue.message.startsWith(path) ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

const t = initTRPC.context<Context>().create({
  errorFormatter({ shape, error }) {
    const zodError = error.cause instanceof ZodError ? error.cause : undefined;
    return {
      ...shape,
      message: zodError ? describeZodError(zodError) : shape.message,
      data: {
        ...shape.data,
        stack: undefined,
        issues: zodError?.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const middleware = t.middleware;

/**
 * Every failure leaves as a tRPC error with its cause: policy refusals keep their code, and an
 * internal error with a cause is mapped (src/trpc/spicedb-errors.ts). `undefined` keeps `error`.
 */
function mappedError(error: TRPCError): TRPCError | undefined {
  const cause = error.cause;
  if (cause instanceof DomainError) {
    return new TRPCError({ code: cause.code, message: cause.message, cause });
  }
  if (error.code === 'INTERNAL_SERVER_ERROR' && cause !== undefined) return toTRPCError(cause);
  return undefined;
}

/** The verified caller of a call, UNAUTHORIZED otherwise. */
async function admit(ctx: Context): Promise<Caller> {
  let caller: Caller;
  try {
    caller = await ctx.verifyToken(ctx.authorization);
  } catch (error) {
    const message = error instanceof AuthError ? error.message : 'invalid token';
    throw new TRPCError({ code: 'UNAUTHORIZED', message, cause: error });
  }
  return caller;
}

/** Refuses a verified caller's call on its names, rate limit (Retry-After) or consistency. */
async function admitted(
  ctx: Context,
  caller: Caller,
  getRawInput: () => Promise<unknown>,
): Promise<void> {
  await refuseNames(getRawInput);
  const limiter = caller.scopes.has(BACKEND_SCOPE)
    ? (ctx.backendRateLimiter ?? ctx.rateLimiter)
    : ctx.rateLimiter;
  const rate = limiter?.take(caller.userId);
  if (rate !== undefined && !rate.allowed) {
    throw new TRPCError({
      code: 'TOO_MANY_REQUESTS',
      message: `rate limit exceeded for caller ${caller.userId}; retry in ${rate.retryAfterMs} ms`,
      cause: new RateLimited(rate.retryAfterMs),
    });
  }
  await assertConsistencyInput(ctx.spicedb, await getRawInput().catch(() => undefined));
}

type Outcome = { ok: true; data: unknown } | { ok: false; error: TRPCError };

/** Who made the call, filled in once the token is verified, so refusals are attributed too. */
interface AuditedCaller {
  userId: string | null;
}

/**
 * The whole envelope of a call in one middleware level (tRPC copies a call's options at every
 * level, and this was four: measured, audited, error boundary, auth), in the same order as
 * before. Outermost, every call is counted by procedure and final code and timed (GET
 * /metrics); then every mutation is recorded in the audit trail with its final outcome and
 * caller, refusals included (queries are not recorded); then every failure is mapped as
 * `mappedError` says; innermost runs `inner` (for an authed procedure: the token, names, rate
 * limit and consistency input, then the procedure).
 */
async function envelope<R extends Outcome>(
  ctx: Context,
  path: string,
  type: string,
  getRawInput: () => Promise<unknown>,
  inner: (audited: AuditedCaller) => Promise<R>,
): Promise<R> {
  const started = ctx.requestScope === undefined ? 0 : performance.now();
  const audited: AuditedCaller = { userId: null };
  let result: R | undefined;
  let failure: TRPCError | undefined;
  try {
    result = await inner(audited);
    if (!result.ok) failure = mappedError(result.error);
  } catch (cause) {
    const error = getTRPCErrorFromUnknown(cause);
    failure = mappedError(error) ?? error;
  }
  const ok = failure === undefined && result !== undefined && result.ok;
  const code = ok ? 'OK' : (failure ?? (result as { error: TRPCError }).error).code;
  if (type === 'mutation' && ctx.audit !== undefined) {
    const input = await getRawInput().catch(() => undefined);
    ctx.audit.record({
      requestId: ctx.requestId,
      caller: audited.userId,
      operation: path,
      target: targetOf(input),
      zedToken: ok ? zedTokenOf((result as { data: unknown }).data) : null,
      outcome: ok ? 'ok' : code,
    });
  }
  if (ctx.requestScope !== undefined) {
    observeProcedure(ctx.requestScope, path, type, code, (performance.now() - started) / 1000);
  }
  if (failure !== undefined) throw failure;
  return result as R;
}

export const publicProcedure = t.procedure.use(({ ctx, path, type, getRawInput, next }) =>
  envelope(ctx, path, type, getRawInput, () => next()),
);

export const authedProcedure = t.procedure.use(({ ctx, path, type, getRawInput, next }) =>
  envelope(ctx, path, type, getRawInput, async (audited) => {
    const caller = await admit(ctx);
    audited.userId = caller.userId;
    await admitted(ctx, caller, getRawInput);
    return next({ ctx: { caller } });
  }),
);

/** What this caller may learn (src/authz/disclosure.ts), read at `requested`. */
export function disclosureFor(
  ctx: Context & { caller: Caller },
  requested?: RequestedConsistency,
): Disclosure {
  return new Disclosure(
    ctx.spicedb,
    ctx.authz,
    { userId: ctx.caller.userId, backend: ctx.caller.scopes.has(BACKEND_SCOPE) },
    requested,
  );
}

type OrgPermission = PublicPermission<'organization'> | InternalPermission<'organization'>;
type ProjectPermission = PublicPermission<'project'> | InternalPermission<'project'>;

type Consistency = z.infer<typeof consistencySchema>;

/** Refuses unless the caller holds `permission`; the message names the object only if visible. */
async function requirePermission(
  ctx: Context & { caller: Caller },
  resource: { type: string; id: string },
  permission: string,
  consistency: Consistency,
  exists: () => Promise<boolean>,
): Promise<void> {
  const { allowed } = await ctx.spicedb.check(
    { resource, permission, subject: { type: 'user', id: ctx.caller.userId } },
    ctx.spicedb.consistency(consistency),
  );
  if (!allowed) throw await refused(ctx, resource, permission, consistency, exists);
}

/**
 * The refusal of `permission` on `resource` (src/authz/disclosure.ts `refusal`): FORBIDDEN, the
 * same whether an object the caller may not see exists or not; NOT_FOUND only to a backend
 * caller, of an object that does not exist.
 */
async function refused(
  ctx: Context & { caller: Caller },
  resource: { type: string; id: string },
  permission: string,
  consistency: Consistency,
  exists: () => Promise<boolean>,
): Promise<TRPCError> {
  const refusal = await disclosureFor(ctx, consistency).refusal(resource, permission, exists);
  return new TRPCError(refusal);
}

/**
 * The consistency of a base procedure's own checks. A mutation is authorized at the head
 * revision whatever the caller sends: an old token (or another replica's quantized revision)
 * must never let a revoked grant write. A query honours the caller's consistency, else this
 * instance's read-your-writes default.
 */
export function authorizationConsistency(type: string, requested: Consistency): Consistency {
  return type === 'mutation' ? { fullyConsistent: true } : requested;
}

/**
 * A procedure on one organization, allowed only with `permission` on it. Like every base
 * procedure it authorizes a query at the input's `consistency` (a token from another replica
 * makes the authorization as fresh as the data read after it) and a mutation at the head.
 */
export const orgProcedure = (permission: OrgPermission) =>
  authedProcedure
    .input(z.object({ orgId: idSchema('orgId'), consistency: consistencySchema }))
    .use(async ({ ctx, input, type, next }) => {
      const consistency = authorizationConsistency(type, input.consistency);
      // Only a backend caller's refusal pays for the existence read (NOT_FOUND from FORBIDDEN).
      await requirePermission(
        ctx,
        { type: 'organization', id: input.orgId },
        permission,
        consistency,
        () => ctx.authz.organizationExists(input.orgId, consistency),
      );
      return next({ ctx: { orgId: input.orgId } });
    });

/** A procedure on one project, allowed only with `permission` on it; knows the project's organization. */
export const projectProcedure = (permission: ProjectPermission) =>
  authedProcedure
    .input(z.object({ projectId: idSchema('projectId'), consistency: consistencySchema }))
    .use(async ({ ctx, input, type, next }) => {
      const consistency = authorizationConsistency(type, input.consistency);
      const project = { type: 'project', id: input.projectId };
      const orgId = await ctx.authz.parentOf('project', input.projectId, consistency);
      // An unknown project is refused as one the caller may not see (no check needed).
      if (orgId === undefined) {
        throw await refused(ctx, project, permission, consistency, () => Promise.resolve(false));
      }
      await requirePermission(ctx, project, permission, consistency, () => Promise.resolve(true));
      return next({ ctx: { orgId, projectId: input.projectId } });
    });

/** A procedure on an existing cluster or volume, allowed only with `permission` on it. */
export const childProcedure = <K extends 'cluster' | 'volume'>(
  kind: K,
  field: `${K}Id`,
  permission: PublicPermission<K>,
) =>
  authedProcedure
    .input(
      z.object({
        [field]: idSchema(field),
        consistency: consistencySchema,
      }) as unknown as z.ZodType<Record<`${K}Id`, string> & { consistency?: Consistency }>,
    )
    .use(async ({ ctx, input, type, next }) => {
      const consistency = authorizationConsistency(type, input.consistency);
      const id = input[field];
      const projectId = await ctx.authz.parentOf(kind, id, consistency);
      if (projectId === undefined) {
        throw await refused(ctx, { type: kind, id }, permission, consistency, () =>
          Promise.resolve(false),
        );
      }
      await requirePermission(ctx, { type: kind, id }, permission, consistency, () =>
        Promise.resolve(true),
      );
      return next({ ctx: { projectId, childId: id } });
    });
