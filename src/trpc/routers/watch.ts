import { tracked, TRPCError } from '@trpc/server';
import { z } from 'zod';
import {
  DEFAULT_LIVE_LIMITS,
  LiveAccessClosedError,
  LiveAccessLimitError,
} from '../../authz/live-access.js';
import { toTRPCError } from '../spicedb-errors.js';
import { assertPermission, checkShape, subjectFor, typedPair } from '../check-input.js';
import { authedProcedure } from '../trpc.js';

/** A ZedToken as a resume point: opaque, so only its size and alphabet are checked here. */
const resumeToken = (field: string) =>
  z
    .string({ error: `${field} must be a ZedToken string` })
    .min(1, `${field} must not be empty`)
    .max(4096, `${field} is longer than a ZedToken`)
    .regex(/^[A-Za-z0-9+/=_-]+$/, `${field} is not a ZedToken`);

/** Every watched check is a typed pair, like authz.check's. */
const watchedCheck = typedPair<{ subject?: string | undefined }>();

export const watchInput = z.object({
  checks: z
    .array(watchedCheck(z.object(checkShape)))
    .min(1, 'checks must hold at least one check')
    .max(
      DEFAULT_LIVE_LIMITS.maxChecksPerSubscription,
      `checks holds at most ${DEFAULT_LIVE_LIMITS.maxChecksPerSubscription} checks per subscription`,
    ),
  since: resumeToken('since').optional(),
  /** Sent by the SSE client when it reconnects: the id (a ZedToken) of the last event it got. */
  lastEventId: resumeToken('lastEventId').optional(),
});

function errorFor(error: unknown): TRPCError {
  if (error instanceof TRPCError) return error;
  if (error instanceof LiveAccessLimitError) {
    return new TRPCError({ code: 'TOO_MANY_REQUESTS', message: error.message });
  }
  if (error instanceof LiveAccessClosedError) {
    // Retryable for the client: it reconnects (to another instance) and resumes.
    return new TRPCError({
      code: 'SERVICE_UNAVAILABLE',
      message: `${error.message}; reconnect to resume`,
    });
  }
  return toTRPCError(error);
}

/**
 * `authz.watch`: the caller's answers to `checks` now, then every change of them, over SSE.
 * Every event's id is the ZedToken it was checked at. After a reconnect (`lastEventId`) or with
 * `since`, the current answer of every check is sent again, read at the head revision, so
 * nothing that changed in between is missed and no answer is older than one already sent.
 */
export const watchProcedure = authedProcedure.input(watchInput).subscription(async function* ({
  ctx,
  input,
  signal,
}) {
  const items = input.checks.map((check, index) => {
    assertPermission(check.resource, check.permission, `checks.${index}.permission`);
    return {
      resource: check.resource,
      permission: check.permission,
      subject: subjectFor(ctx.caller, check.subject),
    };
  });
  if (ctx.live === undefined) {
    throw new TRPCError({
      code: 'NOT_IMPLEMENTED',
      message: 'live access is not enabled on this instance',
    });
  }
  try {
    for await (const event of ctx.live.open(ctx.caller.userId, items, signal)) {
      // SpiceDB always answers with a revision; an event id must not be empty all the same.
      yield tracked(event.checkedAt || 'head', event);
    }
  } catch (error) {
    if (signal?.aborted) return;
    throw errorFor(error);
  }
});
