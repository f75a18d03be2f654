import { readFileSync } from 'node:fs';
import { SCHEMA_PATH } from '../spicedb/connection.js';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import { RelationshipWatch, type RelationshipWatchOptions } from '../spicedb/watch.js';
import { LiveAccess, DEFAULT_LIVE_LIMITS, type LiveAccessLimits } from './live-access.js';
import { schemaShapeOf } from './schema-shape.js';
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
  const scope = new WatchScope(schemaShapeOf(readFileSync(SCHEMA_PATH, 'utf8')));
  return new LiveAccess(
    { watch, scope, check: (item, consistency) => gateway.check(item, consistency) },
    { ...DEFAULT_LIVE_LIMITS, ...options.limits },
  );
}
