import type { RequestedConsistency } from '../spicedb/consistency.js';
import { mustMatch, mustNotMatch, remove, touch, type v1 } from '../spicedb/proto.js';
import { DomainError } from './errors.js';
import { filter, rel } from './relationships.js';
import type { OrgRole, ProjectRole } from './schema.js';
import type { AuthzWriter, Written } from './writer.js';

export interface CollaboratorEntry {
  userId: string;
  role: ProjectRole;
  external: boolean;
  expiresAt?: string;
}

const ROLE_ORDER: Record<OrgRole, number> = { owner: 0, admin: 1, member: 2 };

const expiry = (expiresAt: string | undefined) => (expiresAt !== undefined ? { expiresAt } : {});

/**
 * A project's collaborators: adding, changing the role of, removing and listing them. An
 * organization admin is always a project admin; a `member` role for one is refused, and held
 * as a write precondition so a concurrent promotion makes the write fail instead.
 */
export class ProjectCollaborators {
  constructor(private readonly w: AuthzWriter) {}

  async add(
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
  async setRole(
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

  async remove(orgId: string, projectId: string, userId: string): Promise<Written> {
    return this.w.write(
      [
        remove(rel.projectRole(projectId, 'admin', userId)),
        remove(rel.projectRole(projectId, 'member', userId)),
      ],
      [mustMatch(filter.userOn('project', projectId, userId))],
      () => this.explainCollaborator(orgId, projectId, userId, undefined, true),
    );
  }

  async list(
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
}
