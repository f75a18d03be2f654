import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import { DatastoreIdentity, decodeZedToken, zedTokenProblem } from '../spicedb/zedtoken.js';

/** `consistency` of every query's input; a token must at least look like one of SpiceDB's. */
export const consistencySchema = z
  .union(
    [
      z
        .object({
          atLeastAsFresh: z
            .string()
            .min(1)
            .max(4096)
            .refine((token) => decodeZedToken(token) !== undefined, {
              message: 'consistency.atLeastAsFresh is not a ZedToken issued by SpiceDB',
            }),
        })
        .strict(),
      z.object({ fullyConsistent: z.literal(true) }).strict(),
    ],
    { error: 'consistency must be { atLeastAsFresh: zedToken } or { fullyConsistent: true }' },
  )
  .optional();

const identities = new WeakMap<SpiceDbGateway, DatastoreIdentity>();

/** The datastore of the gateway's SpiceDB, learnt once from a token it hands out. */
function identityOf(gateway: SpiceDbGateway): DatastoreIdentity {
  let identity = identities.get(gateway);
  if (identity === undefined) {
    // `self` needs no relationship: the cheapest call that answers with a ZedToken.
    const probe = { type: 'user', id: 'zedtoken-probe' };
    identity = new DatastoreIdentity(async () => {
      const answer = await gateway.check(
        { resource: probe, permission: 'view_profile', subject: probe },
        { kind: 'minimizeLatency' },
      );
      return answer.checkedAt;
    });
    identities.set(gateway, identity);
  }
  return identity;
}

/** Records a token SpiceDB returned, so the first caller token costs no extra call. */
export function observeOwnToken(gateway: SpiceDbGateway, token: string): void {
  identityOf(gateway).observe(token);
}

function badConsistency(message: string): TRPCError {
  return new TRPCError({ code: 'BAD_REQUEST', message });
}

/**
 * Every procedure, mutations and those that take no `consistency` included: a malformed
 * `consistency`, or a ZedToken SpiceDB did not issue to this service's datastore, is
 * BAD_REQUEST naming the field, before anything is asked of SpiceDB.
 */
export async function assertConsistencyInput(
  gateway: SpiceDbGateway,
  rawInput: unknown,
): Promise<void> {
  if (typeof rawInput !== 'object' || rawInput === null || !('consistency' in rawInput)) return;
  const parsed = consistencySchema.safeParse(rawInput.consistency);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const message = issue?.message ?? 'is invalid';
    throw badConsistency(message.startsWith('consistency') ? message : `consistency: ${message}`);
  }
  const requested = parsed.data;
  if (requested === undefined || !('atLeastAsFresh' in requested)) return;
  const problem = zedTokenProblem(requested.atLeastAsFresh, await identityOf(gateway).prefix());
  if (problem !== undefined) throw badConsistency(problem);
}
