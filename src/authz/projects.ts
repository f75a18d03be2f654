import {
  mustMatch,
  mustNotMatch,
  remove,
  touch,
  type RelationshipTuple,
} from '../spicedb/proto.js';
import { DomainError } from './errors.js';
import { filter, rel } from './relationships.js';
import { distinct, type AuthzWriter, type Written } from './writer.js';

/** Narrows a filter to relationships whose subject is the organization. */
const orgSubject = (orgId: string) => ({ subjectType: 'organization', subjectId: orgId });

/**
 * A project's life: creating it, an organization admin joining it, and deleting it whole
 * (collaborators: project-collaborators.ts; clusters and volumes: project-children.ts).
 * Invariants SpiceDB cannot hold by itself are write preconditions, so a concurrent change
 * makes the write fail instead of breaking them.
 */
export class Projects {
  constructor(private readonly w: AuthzWriter) {}

  async create(callerId: string, orgId: string, projectId: string): Promise<Written> {
    return this.w.write(
      [
        touch(rel.projectOrg(projectId, orgId)),
        touch(rel.orgProject(orgId, projectId)),
        touch(rel.projectRole(projectId, 'admin', callerId)),
      ],
      [mustMatch(filter.orgOwner(orgId)), mustNotMatch(filter.anything('project', projectId))],
      async () =>
        (await this.w.exists(filter.orgOwner(orgId)))
          ? new DomainError('CONFLICT', `project ${projectId} already exists`)
          : new DomainError('NOT_FOUND', `organization ${orgId} does not exist`),
    );
  }

  async join(callerId: string, orgId: string, projectId: string): Promise<Written> {
    return this.w.write(
      [
        touch(rel.projectRole(projectId, 'admin', callerId)),
        remove(rel.projectRole(projectId, 'member', callerId)),
      ],
      [
        // The project still belongs to this organization...
        mustMatch({ ...filter.parentOf('project', projectId), ...orgSubject(orgId) }),
        // ...and the caller still holds a role in it that is not plain `member` (owner or admin:
        // roles are exclusive, so this is "is an admin" as one precondition pair).
        mustMatch(filter.userOn('organization', orgId, callerId)),
        mustNotMatch(filter.userOn('organization', orgId, callerId, 'member')),
      ],
      async () =>
        (await this.w.exists(filter.parentOf('project', projectId)))
          ? new DomainError('FORBIDDEN', `caller is not an admin of organization ${orgId}`)
          : new DomainError('NOT_FOUND', `project ${projectId} does not exist`),
    );
  }

  /**
   * Every relationship that makes up the project, children first: its clusters and volumes,
   * its own relationships (collaborators, then its organization link), and the organization's
   * link to it.
   */
  async contentsOf(projectId: string, orgId: string): Promise<RelationshipTuple[]> {
    const [clusters, volumes, own, orgLink] = await Promise.all([
      this.w.readStrong(filter.childrenOf('cluster', projectId)),
      this.w.readStrong(filter.childrenOf('volume', projectId)),
      this.w.readStrong(filter.anything('project', projectId)),
      this.w.readStrong({
        ...filter.anything('organization', orgId),
        relation: 'project',
        subjectType: 'project',
        subjectId: projectId,
      }),
    ]);
    const parentLast = (t: RelationshipTuple) => (t.relation === 'organization' ? 1 : 0);
    return distinct([
      ...clusters,
      ...volumes,
      ...orgLink,
      ...own.sort((a, b) => parentLast(a) - parentLast(b)),
    ]);
  }

  /**
   * Removes the project whole: one atomic write when it fits, else chunks that each require the
   * project to still exist. Children go first and the caller's own roles with the project's
   * organization link last, so every intermediate state only lacks access, and a retry after a
   * failed chunk is still authorized (the caller is still its admin) and finishes the job.
   */
  async delete(callerId: string, orgId: string, projectId: string): Promise<Written> {
    const contents = await this.contentsOf(projectId, orgId);
    const isLast = (t: RelationshipTuple) =>
      t.resourceType === 'project' &&
      (t.relation === 'organization' || (t.subjectType === 'user' && t.subjectId === callerId));
    const written = await this.w.writeInChunks(
      contents.filter((t) => !isLast(t)).map(remove),
      [mustMatch(filter.parentOf('project', projectId))],
      () => Promise.resolve(new DomainError('NOT_FOUND', `project ${projectId} does not exist`)),
      contents.filter(isLast).map(remove),
    );
    return this.sweep(projectId, orgId, written);
  }

  /**
   * A collaborator, cluster or volume added after delete's reads but before its write escaped
   * it. Once the project's organization link is gone no such add can commit (each requires it),
   * so one more read finds every stray; they go unless the project was meanwhile created again.
   */
  async sweep(projectId: string, orgId: string, written: Written): Promise<Written> {
    const strays = await this.contentsOf(projectId, orgId);
    if (strays.length === 0) return written;
    try {
      return await this.w.writeInChunks(
        strays.map(remove),
        [mustNotMatch(filter.parentOf('project', projectId))],
        () => Promise.resolve(new DomainError('CONFLICT', `project ${projectId} was recreated`)),
      );
    } catch (error) {
      if (error instanceof DomainError) return written;
      throw error;
    }
  }
}
