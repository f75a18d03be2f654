import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { ServiceMetrics } from './metrics.js';

/** What one HTTP request carries through its work: its id, logger and metrics sink. */
export interface RequestScope {
  requestId: string;
  log: Logger;
  metrics?: ServiceMetrics;
}

/**
 * The scope of each request in flight, by its IncomingMessage: the tRPC context picks it up
 * from there (createContextFactory), so procedures reach it through `ctx.requestScope`. Not an
 * AsyncLocalStorage: on Node 20 one in use makes every promise of the process pay async hooks
 * (about a tenth of the CPU of a check, docs/performance.md).
 */
const scopes = new WeakMap<IncomingMessage, RequestScope>();

export function bindRequestScope(req: IncomingMessage, scope: RequestScope): void {
  scopes.set(req, scope);
}

export function requestScopeOf(req: IncomingMessage): RequestScope | undefined {
  return scopes.get(req);
}

/**
 * Records one finished tRPC procedure call for the request in `scope`. In-process callers
 * (createCaller in tests) have no scope and are not measured.
 */
export function observeProcedure(
  scope: RequestScope | undefined,
  procedure: string,
  type: string,
  code: string,
  seconds: number,
): void {
  if (scope === undefined) return;
  scope.metrics?.observeProcedure(procedure, type, code, seconds);
  // Failures are logged with their error by the HTTP server's onError; this is the trace.
  scope.log.debug({ procedure, code, ms: Math.round(seconds * 1000) }, 'procedure done');
}
