import type { RequestedConsistency } from '../spicedb/consistency.js';
import {
  mustMatch,
  mustNotMatch,
  remove,
  touch,
  type RelationshipTuple,
} from '../spicedb/proto.js';
import { DomainError } from './errors.js';
import type { Projects } from './projects.js';
import { filter, rel } from './relationships.js';
import type { AssignableOrgRole, OrgRole } from './schema.js';
import { distinct, type AuthzWriter, type Written } from './writer.js';

export interface MemberEntry {
  userId: string;
  role: OrgRole;
  expiresAt?: string;
}

const ROLE_ORDER: Record<OrgRole, number> = { owner: 0, admin: 1, member: 2 };

const isOrgRole = (relation: string): relation is OrgRole => Object.hasOwn(ROLE_ORDER, relation);

/** The relationships of the organization itself and of its pending invitations. */
const ownRelationships = (orgId: string) => [
  filter.anything('organization', orgId),
  filter.anything('invitation', orgId),
];

/**
 * Organizations and their members. One owner, owners stay, a member's removal takes their
 * project roles with it: all write preconditions, never check-then-write.
 */
export class Organizations {
  constructor(
    private readonly w: AuthzWriter,
    private readonly projects: Projects,
  ) {}

  async create(callerId: string, orgId: string): Promise<Written> {
    return this.w.write(
      [touch(rel.orgRole(orgId, 'owner', callerId))],
      [mustNotMatch(filter.anything('organization', orgId))],
      () => Promise.resolve(new DomainError('CONFLICT', `organization ${orgId} already exists`)),
    );
  }

  /** Adds at once (administrators, imports); a pending invitation of the user is settled by it. */
  async addMember(
    orgId: string,
    userId: string,
    role: AssignableOrgRole,
    expiresAt?: string,
  ): Promise<Written> {
    return this.w.write(
      [
        touch(rel.orgRole(orgId, role, userId, expiresAt)),
        remove(rel.invitation(orgId, 'admin', userId)),
        remove(rel.invitation(orgId, 'member', userId)),
      ],
      [
        mustMatch(filter.orgOwner(orgId)),
        mustNotMatch(filter.userOn('organization', orgId, userId)),
      ],
      async () =>
        (await this.w.exists(filter.orgOwner(orgId)))
          ? new DomainError(
              'CONFLICT',
              `user ${userId} is already a member of organization ${orgId}`,
            )
          : new DomainError('NOT_FOUND', `organization ${orgId} does not exist`),
    );
  }

  private async explainTarget(orgId: string, userId: string, ownerRefusal: string) {
    if (await this.w.exists(filter.userOn('organization', orgId, userId, 'owner'))) {
      return new DomainError('PRECONDITION_FAILED', ownerRefusal);
    }
    return new DomainError('NOT_FOUND', `user ${userId} is not a member of organization ${orgId}`);
  }

  /** A new role keeps the member's expiration: a time-limited membership stays time-limited. */
  async setMemberRole(orgId: string, userId: string, role: AssignableOrgRole): Promise<Written> {
    const other: AssignableOrgRole = role === 'admin' ? 'member' : 'admin';
    const [current] = await this.w.readStrong(filter.userOn('organization', orgId, userId));
    return this.w.write(
      [
        touch(rel.orgRole(orgId, role, userId, current?.expiresAt)),
        remove(rel.orgRole(orgId, other, userId)),
      ],
      [
        mustNotMatch(filter.userOn('organization', orgId, userId, 'owner')),
        mustMatch(filter.userOn('organization', orgId, userId)),
      ],
      () =>
        this.explainTarget(
          orgId,
          userId,
          `the owner of organization ${orgId} cannot be given another role`,
        ),
    );
  }

  /** Removes the user's organization role and their roles in all of its projects, in one write. */
  removeMember(orgId: string, userId: string): Promise<Written> {
    return this.withdraw(orgId, userId, `the owner of organization ${orgId} cannot be removed`);
  }

  /** The caller leaves: as removeMember, for anyone but the owner. */
  leave(orgId: string, userId: string): Promise<Written> {
    return this.withdraw(
      orgId,
      userId,
      `the owner of organization ${orgId} cannot leave it; transfer ownership first`,
    );
  }

  private async projectRolesIn(orgId: string, userId: string): Promise<RelationshipTuple[]> {
    const [projects, memberships] = await Promise.all([
      this.w.readStrong(filter.projectsOf(orgId)),
      this.w.readStrong(filter.userAnywhere('project', userId)),
    ]);
    const orgProjects = new Set(projects.map((p) => p.resourceId));
    return memberships.filter((m) => orgProjects.has(m.resourceId));
  }

  private async withdraw(orgId: string, userId: string, ownerRefusal: string): Promise<Written> {
    // The organization role goes last: when the change needs several writes, every earlier
    // chunk still meets the precondition that the user belongs to the organization.
    const written = await this.w.writeInChunks(
      (await this.projectRolesIn(orgId, userId)).map(remove),
      [
        mustNotMatch(filter.userOn('organization', orgId, userId, 'owner')),
        mustMatch(filter.userOn('organization', orgId, userId)),
      ],
      () => this.explainTarget(orgId, userId, ownerRefusal),
      [remove(rel.orgRole(orgId, 'admin', userId)), remove(rel.orgRole(orgId, 'member', userId))],
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
    const strays = await this.projectRolesIn(orgId, userId);
    if (strays.length === 0) return written;
    try {
      return await this.w.writeInChunks(
        strays.map(remove),
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

  async transferOwnership(orgId: string, ownerId: string, userId: string): Promise<Written> {
    return this.w.write(
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
        (await this.w.exists(filter.userOn('organization', orgId, ownerId, 'owner')))
          ? new DomainError(
              'PRECONDITION_FAILED',
              `ownership goes only to an admin of organization ${orgId}; ${userId} is not one`,
            )
          : new DomainError('PRECONDITION_FAILED', `caller no longer owns organization ${orgId}`),
    );
  }

  async listMembers(orgId: string, consistency?: RequestedConsistency): Promise<MemberEntry[]> {
    const rels = await this.w.spicedb.readRelationships(
      { resourceType: 'organization', resourceId: orgId, subjectType: 'user' },
      this.w.fresh(consistency),
    );
    const best = new Map<string, MemberEntry>();
    for (const r of rels) {
      if (!isOrgRole(r.relation)) continue;
      const current = best.get(r.subjectId);
      if (current === undefined || ROLE_ORDER[r.relation] < ROLE_ORDER[current.role]) {
        best.set(r.subjectId, {
          userId: r.subjectId,
          role: r.relation,
          ...(r.expiresAt !== undefined ? { expiresAt: r.expiresAt } : {}),
        });
      }
    }
    return [...best.values()].sort(
      (a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.userId.localeCompare(b.userId),
    );
  }

  private async contentsOf(orgId: string, withProjects: boolean) {
    const [projectLinks, ...own] = await Promise.all([
      this.w.readStrong(filter.projectsOf(orgId)),
      ...ownRelationships(orgId).map((spec) => this.w.readStrong(spec)),
    ]);
    const projectIds = [...new Set(projectLinks.map((p) => p.resourceId))].sort();
    const projectContents = withProjects
      ? await Promise.all(projectIds.map((projectId) => this.projects.contentsOf(projectId, orgId)))
      : [];
    const everything = distinct([...projectContents.flat(), ...own.flat()]);
    const isOwner = (t: RelationshipTuple) =>
      t.resourceType === 'organization' && t.relation === 'owner';
    return {
      projectIds,
      body: everything.filter((t) => !isOwner(t)),
      owner: everything.filter(isOwner),
    };
  }

  /**
   * Deletes the organization: owner only, and only once its projects are gone unless `cascade`
   * removes them too. Projects' children first, the owner last, each chunk requiring the caller
   * to still own it, so a failed chunk leaves less access and a retry is still authorized.
   */
  async delete(orgId: string, ownerId: string, cascade: boolean): Promise<Written> {
    const { projectIds, body, owner } = await this.contentsOf(orgId, cascade);
    const written = await this.w.writeInChunks(
      body.map(remove),
      [
        mustMatch(filter.userOn('organization', orgId, ownerId, 'owner')),
        ...(cascade ? [] : [mustNotMatch(filter.projectsOf(orgId))]),
      ],
      async () =>
        (await this.w.exists(filter.userOn('organization', orgId, ownerId, 'owner')))
          ? new DomainError(
              'PRECONDITION_FAILED',
              `organization ${orgId} still has projects; delete them first or pass cascade: true`,
            )
          : new DomainError('PRECONDITION_FAILED', `caller no longer owns organization ${orgId}`),
      owner.map(remove),
    );
    return this.sweep(orgId, projectIds, written);
  }

  /**
   * What was added between delete's reads and its last write (an invitation, a project, a
   * collaborator): with the owner and the projects' links gone nothing more can be added, so one
   * more read finds it all. It goes unless the organization was meanwhile created again.
   */
  private async sweep(orgId: string, projectIds: string[], written: Written): Promise<Written> {
    let last = written;
    for (const projectId of projectIds) {
      last = await this.projects.sweep(projectId, orgId, last);
    }
    // Projects created meanwhile still name the organization: their contents are in `body`.
    const { body, owner } = await this.contentsOf(orgId, true);
    const strays = [...body, ...owner];
    if (strays.length === 0) return last;
    try {
      return await this.w.writeInChunks(
        strays.map(remove),
        [mustNotMatch(filter.orgOwner(orgId))],
        () => Promise.resolve(new DomainError('CONFLICT', `organization ${orgId} was recreated`)),
      );
    } catch (error) {
      if (error instanceof DomainError) return last;
      throw error;
    }
  }
}
