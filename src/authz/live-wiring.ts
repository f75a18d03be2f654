import type { ObjectId, SpiceDbGateway } from '../spicedb/gateway.js';
import {
  RelationshipWatch,
  type RelationshipChange,
  type RelationshipWatchOptions,
} from '../spicedb/watch.js';
import { LiveAccess, DEFAULT_LIVE_LIMITS, type LiveAccessLimits } from './live-access.js';
import { DEFINITIONS, type DefinitionShape } from './schema.generated.js';
import { WatchScope } from './watch-scope.js';

export interface LiveAccessOptions {
  limits?: Partial<LiveAccessLimits>;
  watch?: RelationshipWatchOptions;
}

/** Every `type#relation` whose relationships to a `subjectType` may carry an expiration. */
function expiringRelations(subjectType: string): Array<{ type: string; relation: string }> {
  return Object.entries(DEFINITIONS as Readonly<Record<string, DefinitionShape>>).flatMap(
    ([type, definition]) =>
      Object.entries(definition.relations)
        .filter(([, shape]) =>
          shape.subjectTypes.some((s) => s.type === subjectType && s.expiration === true),
        )
        .map(([relation]) => ({ type, relation })),
  );
}

/**
 * The subject's relationships that expire by themselves, read when a subscription opens: the
 * Watch stream only tells of expirations written after that, and SpiceDB writes nothing when
 * one passes.
 */
async function readExpiring(
  gateway: SpiceDbGateway,
  subject: ObjectId,
): Promise<RelationshipChange[]> {
  const reads = expiringRelations(subject.type).map(({ type, relation }) =>
    gateway.readRelationships(
      { resourceType: type, relation, subjectType: subject.type, subjectId: subject.id },
      gateway.consistency(),
    ),
  );
  return (await Promise.all(reads)).flat().flatMap((tuple) =>
    tuple.expiresAt === undefined
      ? []
      : [
          {
            operation: 'touch' as const,
            resource: { type: tuple.resourceType, id: tuple.resourceId },
            relation: tuple.relation,
            subject: { type: tuple.subjectType, id: tuple.subjectId },
            expiresAt: new Date(tuple.expiresAt),
          },
        ],
  );
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
    {
      watch,
      scope,
      check: (item, consistency) => gateway.check(item, consistency),
      expiringRelationships: (subject) => readExpiring(gateway, subject),
    },
    { ...DEFAULT_LIVE_LIMITS, ...options.limits },
  );
}
