import type { RequestedConsistency } from '../spicedb/consistency.js';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import { mustNotMatch, remove } from '../spicedb/proto.js';
import { DomainError } from './errors.js';
import { Invitations } from './invitations.js';
import { Organizations } from './organizations.js';
import { ProjectChildren } from './project-children.js';
import { ProjectCollaborators } from './project-collaborators.js';
import { Projects } from './projects.js';
import { filter } from './relationships.js';
import { AuthzWriter, distinct, type Written } from './writer.js';

export { MAX_UPDATES_PER_WRITE, type Written } from './writer.js';
export type { MemberEntry } from './organizations.js';
export type { CollaboratorEntry } from './project-collaborators.js';
export type { InvitationEntry } from './invitations.js';

/**
 * The domain's operations as atomic SpiceDB writes, by domain: organizations and their members,
 * invitations, projects, their collaborators and their children (clusters, volumes). The base procedures' reads
 * (existence, parents) and account deletion, which spans them all, live here.
 */
export class AuthzService {
  private readonly writer: AuthzWriter;
  readonly orgs: Organizations;
  readonly projects: Projects;
  readonly collaborators: ProjectCollaborators;
  readonly projectChildren: ProjectChildren;
  readonly invitations: Invitations;

  constructor(private readonly spicedb: SpiceDbGateway) {
    this.writer = new AuthzWriter(spicedb);
    this.projects = new Projects(this.writer);
    this.collaborators = new ProjectCollaborators(this.writer);
    this.projectChildren = new ProjectChildren(this.writer);
    this.orgs = new Organizations(this.writer, this.projects);
    this.invitations = new Invitations(this.writer);
  }

  async organizationExists(orgId: string, consistency?: RequestedConsistency): Promise<boolean> {
    return this.spicedb.exists(filter.orgOwner(orgId), this.writer.fresh(consistency));
  }

  async parentOf(
    type: 'project' | 'cluster' | 'volume',
    id: string,
    consistency?: RequestedConsistency,
  ): Promise<string | undefined> {
    const rels = await this.spicedb.readRelationships(
      filter.parentOf(type, id),
      this.writer.fresh(consistency),
    );
    return rels[0]?.subjectId;
  }

  /** Every relationship of the user, invitations included; an owner must hand over first. */
  async deleteAccount(userId: string): Promise<Written> {
    const found = await Promise.all(
      ['organization', 'invitation', 'project'].map((type) =>
        this.writer.readStrong(filter.userAnywhere(type, userId)),
      ),
    );
    return this.writer.writeInChunks(
      distinct(found.flat()).map(remove),
      [mustNotMatch(filter.ownerships(userId))],
      () =>
        Promise.resolve(
          new DomainError(
            'PRECONDITION_FAILED',
            'the owner of an organization cannot delete their account; transfer ownership first',
          ),
        ),
    );
  }
}
