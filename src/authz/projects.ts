import type { RequestedConsistency } from '../spicedb/consistency.js';
import {
  mustMatch,
  mustNotMatch,
  remove,
  touch,
  type RelationshipTuple,
  type v1,
} from '../spicedb/proto.js';
import { DomainError } from './errors.js';
import { filter, rel } from './relationships.js';
import type { OrgRole, ProjectRole } from './schema.js';
import { distinct, type AuthzWriter, type Written } from './writer.js';

export interface CollaboratorEntry {
  userId: string;
  role: ProjectRole;
  external: boolean;
  expiresAt?: string;
}

/** Narrows a filter to relationships whose subject is the organization. */
const orgSubject = (orgId: string) => ({ subjectType: 'organization', subjectId: orgId });

const ROLE_ORDER: Record<OrgRole, number> = { owner: 0, admin: 1, member: 2 };

const expiry = (expiresAt: string | undefined) => (expiresAt !== undefined ? { expiresAt } : {});

/**
 * Projects, their collaborators, clusters and volumes. Invariants SpiceDB cannot hold by itself
 * (organization admins stay project admins, children need a live project) are write
 * preconditions, so a concurrent change makes the write fail instead of breaking them.
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

  private async orgRoleOf(orgId: string, userId: string): Promise<OrgRole | undefined> {
    const rels = await this.w.readStrong(filter.userOn('organization', orgId, userId));
    const roles = rels
      .map((r) => r.relation as OrgRole)
      .sort((a, b) => ROLE_ORDER[a] - ROLE_ORDER[b]);
    return roles[0];
  }

  /** Organization admins are always project admins: a `member` role for one is refused. */
  private orgAdminGuards(orgId: string, userId: string): v1.Precondition[] {
    return [
      mustNotMatch(filter.userOn('organization', orgId, userId, 'owner')),
      mustNotMatch(filter.userOn('organization', orgId, userId, 'admin')),
    ];
  }

  private async explainCollaborator(
    orgId: string,
    projectId: string,
    userId: string,
    role: ProjectRole | undefined,
    expectPresent: boolean,
  ) {
    if (!(await this.w.exists(filter.parentOf('project', projectId)))) {
      return new DomainError('NOT_FOUND', `project ${projectId} does not exist`);
    }
    const present = await this.w.exists(filter.userOn('project', projectId, userId));
    if (expectPresent && !present) {
      return new DomainError(
        'NOT_FOUND',
        `user ${userId} is not a collaborator of project ${projectId}`,
      );
    }
    if (!expectPresent && present) {
      return new DomainError(
        'CONFLICT',
        `user ${userId} is already a collaborator of project ${projectId}`,
      );
    }
    if (role === 'member') {
      return new DomainError(
        'PRECONDITION_FAILED',
        `user ${userId} is an admin of organization ${orgId} and so always a project admin`,
      );
    }
    return new DomainError('CONFLICT', `project ${projectId} changed concurrently; try again`);
  }

  async addCollaborator(
    orgId: string,
    projectId: string,
    userId: string,
    requestedRole: ProjectRole | undefined,
    expiresAt?: string,
  ): Promise<Written> {
    const orgRole = await this.orgRoleOf(orgId, userId);
    const isOrgAdmin = orgRole === 'owner' || orgRole === 'admin';
    if (requestedRole === 'member' && isOrgAdmin) {
      throw new DomainError(
        'PRECONDITION_FAILED',
        `user ${userId} is an admin of organization ${orgId} and so always a project admin`,
      );
    }
    const role: ProjectRole = requestedRole ?? (isOrgAdmin ? 'admin' : 'member');
    return this.w.write(
      [touch(rel.projectRole(projectId, role, userId, expiresAt))],
      [
        mustMatch(filter.parentOf('project', projectId)),
        mustNotMatch(filter.userOn('project', projectId, userId)),
        ...(role === 'member' ? this.orgAdminGuards(orgId, userId) : []),
      ],
      () => this.explainCollaborator(orgId, projectId, userId, role, false),
    );
  }

  /** A new role keeps the collaborator's expiration: a time-limited access stays time-limited. */
  async setCollaboratorRole(
    orgId: string,
    projectId: string,
    userId: string,
    role: ProjectRole,
  ): Promise<Written> {
    const other: ProjectRole = role === 'admin' ? 'member' : 'admin';
    const [current] = await this.w.readStrong(filter.userOn('project', projectId, userId));
    return this.w.write(
      [
        touch(rel.projectRole(projectId, role, userId, current?.expiresAt)),
        remove(rel.projectRole(projectId, other, userId)),
      ],
      [
        mustMatch(filter.userOn('project', projectId, userId)),
        ...(role === 'member' ? this.orgAdminGuards(orgId, userId) : []),
      ],
      () => this.explainCollaborator(orgId, projectId, userId, role, true),
    );
  }

  async removeCollaborator(orgId: string, projectId: string, userId: string): Promise<Written> {
    return this.w.write(
      [
        remove(rel.projectRole(projectId, 'admin', userId)),
        remove(rel.projectRole(projectId, 'member', userId)),
      ],
      [mustMatch(filter.userOn('project', projectId, userId))],
      () => this.explainCollaborator(orgId, projectId, userId, undefined, true),
    );
  }

  async listCollaborators(
    orgId: string,
    projectId: string,
    consistency?: RequestedConsistency,
  ): Promise<CollaboratorEntry[]> {
    const read = this.w.fresh(consistency);
    const [projectRels, orgRels] = await Promise.all([
      this.w.spicedb.readRelationships(
        { resourceType: 'project', resourceId: projectId, subjectType: 'user' },
        read,
      ),
      this.w.spicedb.readRelationships(
        { resourceType: 'organization', resourceId: orgId, subjectType: 'user' },
        read,
      ),
    ]);
    const orgAdmins = new Set(
      orgRels.filter((r) => r.relation !== 'member').map((r) => r.subjectId),
    );
    const orgMembers = new Set(orgRels.map((r) => r.subjectId));
    const entries = new Map<string, CollaboratorEntry>();
    for (const r of projectRels) {
      const role: ProjectRole =
        r.relation === 'admin' || orgAdmins.has(r.subjectId) ? 'admin' : 'member';
      if (entries.get(r.subjectId)?.role === 'admin') continue;
      entries.set(r.subjectId, {
        userId: r.subjectId,
        role,
        external: !orgMembers.has(r.subjectId),
        ...expiry(r.expiresAt),
      });
    }
    return [...entries.values()].sort((a, b) => a.userId.localeCompare(b.userId));
  }

  async createChild(
    kind: 'cluster' | 'volume',
    projectId: string,
    childId: string,
  ): Promise<Written> {
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

  async deleteChild(
    kind: 'cluster' | 'volume',
    childId: string,
    projectId: string,
  ): Promise<Written> {
    const tuple =
      kind === 'cluster'
        ? rel.clusterProject(childId, projectId)
        : rel.volumeProject(childId, projectId);
    return this.w.write([remove(tuple)], [mustMatch(filter.parentOf(kind, childId))], () =>
      Promise.resolve(new DomainError('NOT_FOUND', `${kind} ${childId} does not exist`)),
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
