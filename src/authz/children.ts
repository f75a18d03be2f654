import type { SpiceDbGateway } from '../spicedb/gateway.js';
import type { RequestedConsistency } from '../spicedb/consistency.js';

export type ChildKind = 'cluster' | 'volume';

/**
 * The clusters or volumes of a project (their `project` relation points at it), sorted.
 * Their existence is `view` = project collaborator, which the calling procedure requires.
 */
export async function childrenOf(
  spicedb: SpiceDbGateway,
  kind: ChildKind,
  projectId: string,
  consistency?: RequestedConsistency,
): Promise<string[]> {
  const relationships = await spicedb.readRelationships(
    { resourceType: kind, relation: 'project', subjectType: 'project', subjectId: projectId },
    spicedb.consistency(consistency),
  );
  return [...new Set(relationships.map((r) => r.resourceId))].sort();
}
