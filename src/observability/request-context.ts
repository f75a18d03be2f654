import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';
import type { ServiceMetrics } from './metrics.js';

/** What one HTTP request carries through its async work: its id, logger and metrics sink. */
export interface RequestScope {
  requestId: string;
  log: Logger;
  metrics?: ServiceMetrics;
}

const storage = new AsyncLocalStorage<RequestScope>();

export function runInRequestScope<T>(scope: RequestScope, run: () => T): T {
  return storage.run(scope, run);
}

export function currentRequestScope(): RequestScope | undefined {
  return storage.getStore();
}

/**
 * Records one finished tRPC procedure call for the request in scope. In-process callers
 * (createCaller in tests) have no scope and are not measured.
 */
export function observeProcedure(
  procedure: string,
  type: string,
  code: string,
  seconds: number,
): void {
  const scope = storage.getStore();
  if (scope === undefined) return;
  scope.metrics?.observeProcedure(procedure, type, code, seconds);
  // Failures are logged with their error by the HTTP server's onError; this is the trace.
  scope.log.debug({ procedure, code, ms: Math.round(seconds * 1000) }, 'procedure done');
}
