import { initTRPC, TRPCError } from '@trpc/server';
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

/** Every failure leaves as a tRPC error with its cause: policy refusals keep their code. */
const errorBoundary = t.middleware(async ({ next }) => {
  const result = await next();
  if (result.ok) return result;
  const error = result.error;
  const cause = error.cause;
  if (cause instanceof DomainError) {
    throw new TRPCError({ code: cause.code, message: cause.message, cause });
  }
  if (error.code === 'INTERNAL_SERVER_ERROR' && cause !== undefined) {
    throw toTRPCError(cause);
  }
  return result;
});

/** Outermost: counts every call by procedure and final code, and times it (GET /metrics). */
const measured = t.middleware(async ({ ctx, path, type, next }) => {
  if (ctx.requestScope === undefined) return next();
  const started = performance.now();
  const result = await next();
  const code = result.ok ? 'OK' : result.error.code;
  observeProcedure(ctx.requestScope, path, type, code, (performance.now() - started) / 1000);
  return result;
});

/** Who made the call, filled in once the token is verified, so refusals are attributed too. */
interface AuditedCaller {
  userId: string | null;
}

/**
 * Records every mutation in the audit trail with its final outcome, refusals included. Queries
 * are not recorded and pass straight on (a context of their own costs a copy of it per call).
 */
const audited = t.middleware(async ({ ctx, path, type, getRawInput, next }) => {
  if (type !== 'mutation' || ctx.audit === undefined) return next();
  const auditedCaller: AuditedCaller = { userId: null };
  const result = await next({ ctx: { auditedCaller } });
  const input = await getRawInput().catch(() => undefined);
  ctx.audit.record({
    requestId: ctx.requestId,
    caller: auditedCaller.userId,
    operation: path,
    target: targetOf(input),
    zedToken: result.ok ? zedTokenOf(result.data) : null,
    outcome: result.ok ? 'ok' : result.error.code,
  });
  return result;
});

export const publicProcedure = t.procedure.use(measured).use(audited).use(errorBoundary);

export const authedProcedure = publicProcedure.use(async ({ ctx, getRawInput, next }) => {
  let caller: Caller;
  try {
    caller = await ctx.verifyToken(ctx.authorization);
  } catch (error) {
    const message = error instanceof AuthError ? error.message : 'invalid token';
    throw new TRPCError({ code: 'UNAUTHORIZED', message, cause: error });
  }
  const audited = (ctx as { auditedCaller?: AuditedCaller }).auditedCaller;
  if (audited !== undefined) audited.userId = caller.userId;
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
  return next({ ctx: { caller } });
});

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
