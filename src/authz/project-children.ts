import { mustMatch, mustNotMatch, remove, touch } from '../spicedb/proto.js';
import { DomainError } from './errors.js';
import { filter, rel } from './relationships.js';
import type { AuthzWriter, Written } from './writer.js';

export type ProjectChildKind = 'cluster' | 'volume';

/** A project's clusters and volumes: each needs a live project to be created in. */
export class ProjectChildren {
  constructor(private readonly w: AuthzWriter) {}

  async create(kind: 'cluster' | 'volume', projectId: string, childId: string): Promise<Written> {
    const tuple =
      kind === 'cluster'
        ? rel.clusterProject(childId, projectId)
        : rel.volumeProject(childId, projectId);
    return this.w.write(
      [touch(tuple)],
      [
        mustMatch(filter.parentOf('project', projectId)),
        mustNotMatch(filter.anything(kind, childId)),
      ],
      async () =>
        (await this.w.exists(filter.parentOf('project', projectId)))
          ? new DomainError('CONFLICT', `${kind} ${childId} already exists`)
          : new DomainError('NOT_FOUND', `project ${projectId} does not exist`),
    );
  }

  async delete(kind: 'cluster' | 'volume', childId: string, projectId: string): Promise<Written> {
    const tuple =
      kind === 'cluster'
        ? rel.clusterProject(childId, projectId)
        : rel.volumeProject(childId, projectId);
    return this.w.write([remove(tuple)], [mustMatch(filter.parentOf(kind, childId))], () =>
      Promise.resolve(new DomainError('NOT_FOUND', `${kind} ${childId} does not exist`)),
    );
  }
}
