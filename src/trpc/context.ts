import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { AuthzService } from '../authz/service.js';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import type { TokenVerifier } from './auth.js';
import type { RateLimiter } from './rate-limit.js';

/** What every request can reach: built once per process, shared by all requests. */
export interface Services {
  spicedb: SpiceDbGateway;
  authz: AuthzService;
  verifyToken: TokenVerifier;
  /** Per-caller request limits; absent = unlimited. */
  rateLimiter?: RateLimiter | undefined;
  /** Where every mutation is recorded, refusals included; absent = not recorded. */
  audit?: AuditTrail | undefined;
}

export interface Context extends Services {
  authorization: string | undefined;
  requestId: string;
}

export function createContextFactory(services: Services) {
  return ({ req }: { req: IncomingMessage }): Context => {
    const header = req.headers['x-request-id'];
    return {
      ...services,
      authorization: req.headers.authorization,
      requestId: typeof header === 'string' && header.length <= 128 ? header : randomUUID(),
    };
  };
}
