import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { TRPCRequestInfo } from '@trpc/server/http';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { AuthzService } from '../authz/service.js';
import type { LiveAccess } from '../authz/live-access.js';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import type { Caller, TokenVerifier } from './auth.js';
import type { RateLimiter } from './rate-limit.js';
import { requestScopeOf, type RequestScope } from '../observability/request-context.js';

/** What every request can reach: built once per process, shared by all requests. */
export interface Services {
  spicedb: SpiceDbGateway;
  authz: AuthzService;
  verifyToken: TokenVerifier;
  /** Per-caller request limits; absent = unlimited. */
  rateLimiter?: RateLimiter | undefined;
  /** The limits of backend callers (scope `authz:check`); absent = `rateLimiter`'s. */
  backendRateLimiter?: RateLimiter | undefined;
  /** Where every mutation is recorded, refusals included; absent = not recorded. */
  audit?: AuditTrail | undefined;
  /** Live answers for `authz.watch`, fed by the instance's one Watch stream; absent = off. */
  live?: LiveAccess | undefined;
}

export interface Context extends Services {
  authorization: string | undefined;
  requestId: string;
  /** The HTTP request's logger and metrics; absent for in-process callers. */
  requestScope?: RequestScope | undefined;
}

/**
 * A browser's EventSource cannot send headers: an SSE subscription may carry its token as
 * tRPC's `connectionParams` (`{ "token": "<JWT>" }`) instead; every other call uses the header.
 */
function subscriptionToken(info: TRPCRequestInfo | undefined): string | undefined {
  if (info?.type !== 'subscription') return undefined;
  const token = info.connectionParams?.token;
  return typeof token === 'string' && token.length > 0 ? `Bearer ${token}` : undefined;
}

/**
 * One verification per request: every call of a batched request carries the same header, so
 * they share one verification (and one answer) instead of one each.
 */
function verifiedOnce(verify: TokenVerifier, authorization: string | undefined): TokenVerifier {
  let verified: Promise<Caller> | undefined;
  return (header) => (header === authorization ? (verified ??= verify(header)) : verify(header));
}

export function createContextFactory(services: Services) {
  return ({ req, info }: { req: IncomingMessage; info?: TRPCRequestInfo }): Context => {
    const header = req.headers['x-request-id'];
    const authorization = req.headers.authorization ?? subscriptionToken(info);
    return {
      ...services,
      verifyToken: verifiedOnce(services.verifyToken, authorization),
      authorization,
      requestId: typeof header === 'string' && header.length <= 128 ? header : randomUUID(),
      requestScope: requestScopeOf(req),
    };
  };
}
