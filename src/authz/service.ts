import type { RequestedConsistency, ReadConsistency } from '../spicedb/consistency.js';
import { GrpcStatus, grpcStatusOf } from '../spicedb/errors.js';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import {
  mustMatch,
  mustNotMatch,
  remove,
  touch,
  type FilterSpec,
  type RelationshipTuple,
  type v1,
} from '../spicedb/proto.js';
import { DomainError } from './errors.js';
import { filter, rel } from './relationships.js';
import type { AssignableOrgRole, OrgRole, ProjectRole } from './schema.js';

/** SpiceDB's default limit of updates in one WriteRelationships call. */
export const MAX_UPDATES_PER_WRITE = 1_000;

export interface Written {
  zedToken: string;
}

export interface MemberEntry {
  userId: string;
  role: OrgRole;
}

export interface CollaboratorEntry {
  userId: string;
  role: ProjectRole;
  external: boolean;
}

const ORG_ROLE_ORDER: Record<OrgRole, number> = { owner: 0, admin: 1, member: 2 };

/** Narrows a filter to relationships whose subject is the organization. */
const orgSubject = (orgId: string) => ({ subjectType: 'organization', subjectId: orgId });

/**
 * The domain's operations as atomic SpiceDB writes. Invariants SpiceDB cannot hold by itself
 * (one owner, owners stay, organization admins stay project admins) are write preconditions,
 * so a concurrent change makes the write fail instead of breaking them.
 */
export class AuthzService {
  constructor(private readonly spicedb: SpiceDbGateway) {}

  private fresh(requested?: RequestedConsistency): ReadConsistency {
    return this.spicedb.consistency(requested);
  }

  /**
   * Writes with preconditions; when SpiceDB refuses a precondition, `explain` reads the state
   * (after the refusal, so nothing races) and names the refusal.
   */
  private async write(
    updates: v1.RelationshipUpdate[],
    preconditions: v1.Precondition[],
    explain: () => Promise<DomainError>,
  ): Promise<Written> {
    try {
      return { zedToken: await this.spicedb.write(updates, preconditions) };
    } catch (error) {
      if (grpcStatusOf(error)?.code === GrpcStatus.FAILED_PRECONDITION) {
        const refusal = await explain();
        throw new DomainError(refusal.code, refusal.message, { cause: error });
      }
      throw error;
    }
  }

  private exists(spec: FilterSpec): Promise<boolean> {
    return this.spicedb.exists(spec, { kind: 'fullyConsistent' });
  }

  async organizationExists(orgId: string, consistency?: RequestedConsistency): Promise<boolean> {
    return this.spicedb.exists(filter.orgOwner(orgId), this.fresh(consistency));
  }

  async parentOf(
    type: 'project' | 'cluster' | 'volume',
    id: string,
    consistency?: RequestedConsistency,
  ): Promise<string | undefined> {
    const rels = await this.spicedb.readRelationships(
      filter.parentOf(type, id),
      this.fresh(consistency),
    );
    return rels[0]?.subjectId;
  }

  async createOrganization(callerId: string, orgId: string): Promise<Written> {
    return this.write(
      [touch(rel.orgRole(orgId, 'owner', callerId))],
      [mustNotMatch(filter.anything('organization', orgId))],
      () => Promise.resolve(new DomainError('CONFLICT', `organization ${orgId} already exists`)),
    );
  }

  async addMember(orgId: string, userId: string, role: AssignableOrgRole): Promise<Written> {
    return this.write(
      [touch(rel.orgRole(orgId, role, userId))],
      [
        mustMatch(filter.orgOwner(orgId)),
        mustNotMatch(filter.userOn('organization', orgId, userId)),
      ],
      async () =>
        (await this.exists(filter.orgOwner(orgId)))
          ? new DomainError(
              'CONFLICT',
              `user ${userId} is already a member of organization ${orgId}`,
            )
          : new DomainError('NOT_FOUND', `organization ${orgId} does not exist`),
    );
  }

  private async explainOrgTarget(orgId: string, userId: string, action: string) {
    if (await this.exists(filter.userOn('organization', orgId, userId, 'owner'))) {
      return new DomainError(
        'PRECONDITION_FAILED',
        `the owner of organization ${orgId} cannot be ${action}`,
      );
    }
    return new DomainError('NOT_FOUND', `user ${userId} is not a member of organization ${orgId}`);
  }

  async setMemberRole(orgId: string, userId: string, role: AssignableOrgRole): Promise<Written> {
    const other: AssignableOrgRole = role === 'admin' ? 'member' : 'admin';
    return this.write(
      [touch(rel.orgRole(orgId, role, userId)), remove(rel.orgRole(orgId, other, userId))],
      [
        mustNotMatch(filter.userOn('organization', orgId, userId, 'owner')),
        mustMatch(filter.userOn('organization', orgId, userId)),
      ],
      () => this.explainOrgTarget(orgId, userId, 'given another role'),
    );
  }

  /** Removes the user's organization role and their roles in all of its projects, in one write. */
  async removeMember(orgId: string, userId: string): Promise<Written> {
    const strong: ReadConsistency = { kind: 'fullyConsistent' };
    const [projects, memberships] = await Promise.all([
      this.spicedb.readRelationships(filter.projectsOf(orgId), strong),
      this.spicedb.readRelationships(filter.userAnywhere('project', userId), strong),
    ]);
    const orgProjects = new Set(projects.map((p) => p.resourceId));
    const projectDeletes = memberships
      .filter((m) => orgProjects.has(m.resourceId))
      .map((m) => remove(m));
    // The organization role goes last: when the change needs several writes, every earlier
    // chunk still meets the precondition that the user belongs to the organization.
    const updates = [
      ...projectDeletes,
      remove(rel.orgRole(orgId, 'admin', userId)),
      remove(rel.orgRole(orgId, 'member', userId)),
    ];
    const preconditions = [
      mustNotMatch(filter.userOn('organization', orgId, userId, 'owner')),
      mustMatch(filter.userOn('organization', orgId, userId)),
    ];
    const written = await this.writeInChunks(updates, preconditions, () =>
      this.explainOrgTarget(orgId, userId, 'removed'),
    );
    return this.removeStrayProjectRoles(orgId, userId, written);
  }

  /**
   * A project.join (or addCollaborator) that committed after removeMember's reads but before its
   * write escaped that write (found by test/integration/races.test.ts). Once the organization role
   * is gone no join can commit, so one more read finds every stray role; it is deleted unless the
   * user was meanwhile added back to the organization.
   */
  private async removeStrayProjectRoles(
    orgId: string,
    userId: string,
    written: Written,
  ): Promise<Written> {
    const strong: ReadConsistency = { kind: 'fullyConsistent' };
    const [projects, memberships] = await Promise.all([
      this.spicedb.readRelationships(filter.projectsOf(orgId), strong),
      this.spicedb.readRelationships(filter.userAnywhere('project', userId), strong),
    ]);
    const orgProjects = new Set(projects.map((p) => p.resourceId));
    const strays = memberships.filter((m) => orgProjects.has(m.resourceId)).map((m) => remove(m));
    if (strays.length === 0) return written;
    try {
      return await this.writeInChunks(
        strays,
        [mustNotMatch(filter.userOn('organization', orgId, userId))],
        () =>
          Promise.resolve(
            new DomainError('CONFLICT', `user ${userId} rejoined organization ${orgId}`),
          ),
      );
    } catch (error) {
      if (error instanceof DomainError) return written;
      throw error;
    }
  }

  /** Atomic when it fits one write; larger changes keep their preconditions on every chunk. */
  private async writeInChunks(
    updates: v1.RelationshipUpdate[],
    preconditions: v1.Precondition[],
    explain: () => Promise<DomainError>,
  ): Promise<Written> {
    let written: Written = { zedToken: '' };
    // At least one write, even an empty one: it checks the preconditions and yields a ZedToken.
    for (let start = 0; start < Math.max(updates.length, 1); start += MAX_UPDATES_PER_WRITE) {
      written = await this.write(
        updates.slice(start, start + MAX_UPDATES_PER_WRITE),
        preconditions,
        explain,
      );
    }
    return written;
  }

  async transferOwnership(orgId: string, ownerId: string, userId: string): Promise<Written> {
    return this.write(
      [
        remove(rel.orgRole(orgId, 'owner', ownerId)),
        touch(rel.orgRole(orgId, 'admin', ownerId)),
        remove(rel.orgRole(orgId, 'admin', userId)),
        touch(rel.orgRole(orgId, 'owner', userId)),
      ],
      [
        mustMatch(filter.userOn('organization', orgId, ownerId, 'owner')),
        mustMatch(filter.userOn('organization', orgId, userId, 'admin')),
      ],
      async () =>
        (await this.exists(filter.userOn('organization', orgId, ownerId, 'owner')))
          ? new DomainError(
              'PRECONDITION_FAILED',
              `ownership goes only to an admin of organization ${orgId}; ${userId} is not one`,
            )
          : new DomainError('PRECONDITION_FAILED', `caller no longer owns organization ${orgId}`),
    );
  }

  async listMembers(orgId: string, consistency?: RequestedConsistency): Promise<MemberEntry[]> {
    const rels = await this.spicedb.readRelationships(
      { resourceType: 'organization', resourceId: orgId, subjectType: 'user' },
      this.fresh(consistency),
    );
    const best = new Map<string, OrgRole>();
    for (const r of rels) {
      const role = r.relation as OrgRole;
      const current = best.get(r.subjectId);
      if (current === undefined || ORG_ROLE_ORDER[role] < ORG_ROLE_ORDER[current]) {
        best.set(r.subjectId, role);
      }
    }
    return [...best]
      .map(([userId, role]) => ({ userId, role }))
      .sort(
        (a, b) =>
          ORG_ROLE_ORDER[a.role] - ORG_ROLE_ORDER[b.role] || a.userId.localeCompare(b.userId),
      );
  }

  async createProject(callerId: string, orgId: string, projectId: string): Promise<Written> {
    return this.write(
      [
        touch(rel.projectOrg(projectId, orgId)),
        touch(rel.orgProject(orgId, projectId)),
        touch(rel.projectRole(projectId, 'admin', callerId)),
      ],
      [mustMatch(filter.orgOwner(orgId)), mustNotMatch(filter.anything('project', projectId))],
      async () =>
        (await this.exists(filter.orgOwner(orgId)))
          ? new DomainError('CONFLICT', `project ${projectId} already exists`)
          : new DomainError('NOT_FOUND', `organization ${orgId} does not exist`),
    );
  }

  async joinProject(callerId: string, orgId: string, projectId: string): Promise<Written> {
    return this.write(
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
        (await this.exists(filter.parentOf('project', projectId)))
          ? new DomainError('FORBIDDEN', `caller is not an admin of organization ${orgId}`)
          : new DomainError('NOT_FOUND', `project ${projectId} does not exist`),
    );
  }

  private async orgRoleOf(orgId: string, userId: string): Promise<OrgRole | undefined> {
    const rels = await this.spicedb.readRelationships(
      filter.userOn('organization', orgId, userId),
      { kind: 'fullyConsistent' },
    );
    const roles = rels
      .map((r) => r.relation as OrgRole)
      .sort((a, b) => ORG_ROLE_ORDER[a] - ORG_ROLE_ORDER[b]);
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
    if (!(await this.exists(filter.parentOf('project', projectId)))) {
      return new DomainError('NOT_FOUND', `project ${projectId} does not exist`);
    }
    const present = await this.exists(filter.userOn('project', projectId, userId));
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
    return this.write(
      [touch(rel.projectRole(projectId, role, userId))],
      [
        mustMatch(filter.parentOf('project', projectId)),
        mustNotMatch(filter.userOn('project', projectId, userId)),
        ...(role === 'member' ? this.orgAdminGuards(orgId, userId) : []),
      ],
      () => this.explainCollaborator(orgId, projectId, userId, role, false),
    );
  }

  async setCollaboratorRole(
    orgId: string,
    projectId: string,
    userId: string,
    role: ProjectRole,
  ): Promise<Written> {
    const other: ProjectRole = role === 'admin' ? 'member' : 'admin';
    return this.write(
      [
        touch(rel.projectRole(projectId, role, userId)),
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
    return this.write(
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
    const read = this.fresh(consistency);
    const [projectRels, orgRels] = await Promise.all([
      this.spicedb.readRelationships(
        { resourceType: 'project', resourceId: projectId, subjectType: 'user' },
        read,
      ),
      this.spicedb.readRelationships(
        { resourceType: 'organization', resourceId: orgId, subjectType: 'user' },
        read,
      ),
    ]);
    const orgAdmins = new Set(
      orgRels.filter((r) => r.relation !== 'member').map((r) => r.subjectId),
    );
    const orgMembers = new Set(orgRels.map((r) => r.subjectId));
    const roles = new Map<string, ProjectRole>();
    for (const r of projectRels) {
      const effective: ProjectRole =
        r.relation === 'admin' || orgAdmins.has(r.subjectId) ? 'admin' : 'member';
      if (roles.get(r.subjectId) !== 'admin') roles.set(r.subjectId, effective);
    }
    return [...roles]
      .map(([userId, role]) => ({ userId, role, external: !orgMembers.has(userId) }))
      .sort((a, b) => a.userId.localeCompare(b.userId));
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
    return this.write(
      [touch(tuple)],
      [
        mustMatch(filter.parentOf('project', projectId)),
        mustNotMatch(filter.anything(kind, childId)),
      ],
      async () =>
        (await this.exists(filter.parentOf('project', projectId)))
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
    return this.write([remove(tuple)], [mustMatch(filter.parentOf(kind, childId))], () =>
      Promise.resolve(new DomainError('NOT_FOUND', `${kind} ${childId} does not exist`)),
    );
  }

  /** Every relationship of the user, gone in one write; an owner must hand over first. */
  async deleteAccount(userId: string): Promise<Written> {
    const strong: ReadConsistency = { kind: 'fullyConsistent' };
    const found = await Promise.all([
      this.spicedb.readRelationships(filter.userAnywhere('organization', userId), strong),
      this.spicedb.readRelationships(filter.userAnywhere('project', userId), strong),
    ]);
    const unique = new Map<string, RelationshipTuple>();
    for (const r of found.flat()) {
      unique.set(
        `${r.resourceType}:${r.resourceId}#${r.relation}@${r.subjectType}:${r.subjectId}`,
        r,
      );
    }
    const written = await this.writeInChunks(
      [...unique.values()].map((r) => remove(r)),
      [mustNotMatch(filter.ownerships(userId))],
      () =>
        Promise.resolve(
          new DomainError(
            'PRECONDITION_FAILED',
            'the owner of an organization cannot delete their account; transfer ownership first',
          ),
        ),
    );
    return written;
  }
}
