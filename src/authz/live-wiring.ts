import type { SpiceDbGateway } from '../spicedb/gateway.js';
import { RelationshipWatch, type RelationshipWatchOptions } from '../spicedb/watch.js';
import { LiveAccess, DEFAULT_LIVE_LIMITS, type LiveAccessLimits } from './live-access.js';
import { DEFINITIONS } from './schema.generated.js';
import { WatchScope } from './watch-scope.js';

export interface LiveAccessOptions {
  limits?: Partial<LiveAccessLimits>;
  watch?: RelationshipWatchOptions;
}

/** The instance's live access: one Watch stream over the gateway's connection, checks through its coalescer. */
export function createLiveAccess(
  gateway: SpiceDbGateway,
  options: LiveAccessOptions = {},
): LiveAccess {
  const watch = new RelationshipWatch(gateway.connection.api, options.watch);
  // The service writes schema.zed at start (ensureSchema): the generated module is its structure.
  const scope = new WatchScope(DEFINITIONS);
  return new LiveAccess(
    { watch, scope, check: (item, consistency) => gateway.check(item, consistency) },
    { ...DEFAULT_LIVE_LIMITS, ...options.limits },
  );
}
