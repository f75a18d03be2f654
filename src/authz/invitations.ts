import type { RequestedConsistency } from '../spicedb/consistency.js';
import {
  mustMatch,
  mustNotMatch,
  remove,
  touch,
  type RelationshipTuple,
} from '../spicedb/proto.js';
import { DomainError } from './errors.js';
import { filter, rel } from './relationships.js';
import { ASSIGNABLE_ORG_ROLES, type AssignableOrgRole } from './schema.js';
import type { AuthzWriter, Written } from './writer.js';

export interface InvitationEntry {
  userId: string;
  role: AssignableOrgRole;
  expiresAt?: string;
}

const isInvitedRole = (relation: string): relation is AssignableOrgRole =>
  (ASSIGNABLE_ORG_ROLES as readonly string[]).includes(relation);

/**
 * Pending invitations: `invitation:ORG#ROLE@user:U` grants nothing. Accepting turns it into the
 * organization role of the same name, with the same expiration, in one write that requires the
 * invitation to still be there, so an accept racing a revoke (or the expiry) fails cleanly.
 */
export class Invitations {
  constructor(private readonly w: AuthzWriter) {}

  async invite(
    orgId: string,
    userId: string,
    role: AssignableOrgRole,
    expiresAt?: string,
  ): Promise<Written> {
    return this.w.write(
      [touch(rel.invitation(orgId, role, userId, expiresAt))],
      [
        mustMatch(filter.orgOwner(orgId)),
        mustNotMatch(filter.userOn('organization', orgId, userId)),
        mustNotMatch(filter.userOn('invitation', orgId, userId)),
      ],
      async () => {
        if (!(await this.w.exists(filter.orgOwner(orgId)))) {
          return new DomainError('NOT_FOUND', `organization ${orgId} does not exist`);
        }
        return (await this.w.exists(filter.userOn('organization', orgId, userId)))
          ? new DomainError(
              'CONFLICT',
              `user ${userId} is already a member of organization ${orgId}`,
            )
          : new DomainError(
              'CONFLICT',
              `user ${userId} already has a pending invitation to organization ${orgId}`,
            );
      },
    );
  }

  private async pending(orgId: string, userId: string): Promise<RelationshipTuple> {
    const [invitation] = await this.w.readStrong(filter.userOn('invitation', orgId, userId));
    if (invitation === undefined) throw this.noInvitation(orgId, userId);
    return invitation;
  }

  /** The same answer whether or not the organization exists: an invitation is all it names. */
  private noInvitation(orgId: string, userId: string): DomainError {
    return new DomainError(
      'NOT_FOUND',
      `user ${userId} has no pending invitation to organization ${orgId}`,
    );
  }

  async accept(orgId: string, userId: string): Promise<Written> {
    const invitation = await this.pending(orgId, userId);
    const role = invitation.relation as AssignableOrgRole;
    return this.w.write(
      [remove(invitation), touch(rel.orgRole(orgId, role, userId, invitation.expiresAt))],
      [
        mustMatch(filter.userOn('invitation', orgId, userId, role)),
        mustMatch(filter.orgOwner(orgId)),
        mustNotMatch(filter.userOn('organization', orgId, userId)),
      ],
      async () =>
        (await this.w.exists(filter.userOn('organization', orgId, userId)))
          ? new DomainError(
              'CONFLICT',
              `user ${userId} is already a member of organization ${orgId}`,
            )
          : this.noInvitation(orgId, userId),
    );
  }

  /** Declined by the invitee or revoked by an administrator: the invitation goes. */
  async withdraw(orgId: string, userId: string): Promise<Written> {
    const invitation = await this.pending(orgId, userId);
    return this.w.write(
      [remove(invitation)],
      [mustMatch(filter.userOn('invitation', orgId, userId, invitation.relation))],
      () => Promise.resolve(this.noInvitation(orgId, userId)),
    );
  }

  async list(orgId: string, consistency?: RequestedConsistency): Promise<InvitationEntry[]> {
    const rels = await this.w.spicedb.readRelationships(
      { resourceType: 'invitation', resourceId: orgId, subjectType: 'user' },
      this.w.fresh(consistency),
    );
    return rels
      .filter((r) => isInvitedRole(r.relation))
      .map((r) => ({
        userId: r.subjectId,
        role: r.relation as AssignableOrgRole,
        ...(r.expiresAt !== undefined ? { expiresAt: r.expiresAt } : {}),
      }))
      .sort((a, b) => a.userId.localeCompare(b.userId));
  }
}
