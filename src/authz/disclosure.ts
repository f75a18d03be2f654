import type { ReadConsistency, RequestedConsistency } from '../spicedb/consistency.js';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import type { AuthzService } from './service.js';
import { filter } from './relationships.js';
import {
  isRelation,
  isResourceType,
  permissionExpression,
  type PublicPermission,
  type ResourceType,
} from './schema.js';

/**
 * What a caller may learn about an object, its people and its children: the seed's rows as the
 * CONTRACT reads them ("What a caller may learn"). Every query answers through this table.
 *  - existence: the object's existence and id (its name on the roles page);
 *  - people: the list of its users (organization members, project collaborators);
 *  - children: the list of its child objects (an organization's projects; project#view_name
 *    already holds `organization->read_projects`, so a project's existence follows from it).
 */
export const DISCLOSURE = {
  organization: { existence: 'view_name', people: 'read_members', children: 'read_projects' },
  project: { existence: 'view_name', people: 'read_collaborators' },
  cluster: { existence: 'view' },
  volume: { existence: 'view' },
  user: { existence: 'view_profile' },
} as const satisfies {
  [T in ResourceType]: {
    existence: PublicPermission<T>;
    people?: PublicPermission<T>;
    children?: PublicPermission<T>;
  };
};

export interface DisclosureCaller {
  userId: string;
  /** A backend service (scope `authz:check`) may learn everything. */
  backend: boolean;
}

type Ref = { type: string; id: string };
const key = (ref: Ref) => `${ref.type}:${ref.id}`;

/** An object the caller may not see, or that does not exist: the same words for both. */
const unseen = (type: string) =>
  `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type} the caller cannot see`;

/** The message of a refused permission; `object` from Disclosure.name. */
export const lacks = (type: string, permission: string, object: string): string =>
  `caller lacks ${type}#${permission} on ${object}`;

/** The DISCLOSURE rule for one caller at one revision: what of an answer it may see. */
export class Disclosure {
  private readonly seen = new Map<string, Promise<boolean>>();
  private readonly read: ReadConsistency;

  constructor(
    private readonly spicedb: SpiceDbGateway,
    private readonly authz: AuthzService,
    private readonly caller: DisclosureCaller,
    private readonly requested?: RequestedConsistency,
  ) {
    this.read = spicedb.consistency(requested);
  }

  get learnsEverything(): boolean {
    return this.caller.backend;
  }

  private holds(ref: Ref, permission: string): Promise<boolean> {
    const id = `${key(ref)}#${permission}`;
    let answer = this.seen.get(id);
    if (answer === undefined) {
      answer = this.spicedb
        .check(
          { resource: ref, permission, subject: { type: 'user', id: this.caller.userId } },
          this.read,
        )
        .then((a) => a.allowed);
      this.seen.set(id, answer);
    }
    return answer;
  }

  /** Whether the caller may know that `ref` exists and see its id. */
  async maySee(ref: Ref): Promise<boolean> {
    if (this.caller.backend) return true;
    if (ref.type === 'user') return ref.id === this.caller.userId;
    // A type outside the contract (another schema) is never shown to a caller without the scope.
    if (!isResourceType(ref.type)) return false;
    return this.holds(ref, DISCLOSURE[ref.type].existence);
  }

  /** The refs of `refs` the caller may see, as `type:id`; checks go out together. */
  async visible(refs: readonly Ref[]): Promise<Set<string>> {
    const unique = [...new Map(refs.map((r) => [key(r), r])).values()];
    const answers = await Promise.all(unique.map((r) => this.maySee(r)));
    return new Set(unique.filter((_, index) => answers[index]).map(key));
  }

  /** `type:id` when the caller may see it, else words that name no id (for refusal messages). */
  async name(ref: Ref): Promise<string> {
    return (await this.maySee(ref)) ? key(ref) : unseen(ref.type);
  }

  /**
   * The refusal of `permission` on `ref`, which the caller does not hold. A caller who may not
   * see `ref` gets the same answer whether it exists or not: FORBIDDEN naming no id (CONTRACT:
   * NOT_FOUND, "or FORBIDDEN where revealing its existence would leak"). NOT_FOUND only where
   * it tells nothing: to a backend caller, of an object that does not exist.
   */
  async refusal(
    ref: Ref,
    permission: string,
    exists: () => Promise<boolean>,
  ): Promise<{ code: 'FORBIDDEN' | 'NOT_FOUND'; message: string }> {
    if (this.caller.backend && !(await exists())) {
      return { code: 'NOT_FOUND', message: `${ref.type} ${ref.id} does not exist` };
    }
    return { code: 'FORBIDDEN', message: lacks(ref.type, permission, await this.name(ref)) };
  }

  /** Whether the caller may list the people of `ref` (lookupSubjects' gate). */
  async mayListPeople(ref: Ref): Promise<boolean> {
    if (this.caller.backend) return true;
    if (ref.type === 'user') return ref.id === this.caller.userId;
    if (ref.type === 'organization') return this.holds(ref, DISCLOSURE.organization.people);
    const project = await this.projectOf(ref);
    return project !== undefined && this.holds(project, DISCLOSURE.project.people);
  }

  /**
   * The users the caller could find through `org.listMembers` / `project.listCollaborators`
   * around `ref`: the organization's members (with read_members), the collaborators of each of
   * its projects the caller may read (read_collaborators), and the caller themself.
   * Undefined for a backend caller: everyone.
   */
  async visibleUsers(ref: Ref): Promise<Set<string> | undefined> {
    if (this.caller.backend) return undefined;
    const users = new Set([this.caller.userId]);
    if (ref.type === 'user') return users;
    const project = ref.type === 'organization' ? undefined : await this.projectOf(ref);
    const orgId =
      ref.type === 'organization'
        ? ref.id
        : project && (await this.authz.parentOf('project', project.id, this.requested));
    if (orgId === undefined) return users;
    const org = { type: 'organization', id: orgId };
    const projectIds =
      ref.type === 'organization'
        ? (await this.spicedb.readRelationships(filter.projectsOf(orgId), this.read)).map(
            (r) => r.resourceId,
          )
        : [project?.id ?? ''];
    const [readsMembers, ...readsCollaborators] = await Promise.all([
      this.holds(org, DISCLOSURE.organization.people),
      ...projectIds.map((id) => this.holds({ type: 'project', id }, DISCLOSURE.project.people)),
    ]);
    const lists = await Promise.all([
      readsMembers ? this.authz.orgs.listMembers(orgId, this.requested) : [],
      ...projectIds
        .filter((_, index) => readsCollaborators[index])
        .map((id) => this.authz.collaborators.list(orgId, id, this.requested)),
    ]);
    for (const list of lists) for (const entry of list) users.add(entry.userId);
    return users;
  }

  private async projectOf(ref: Ref): Promise<Ref | undefined> {
    if (ref.type === 'project') return ref;
    if (ref.type !== 'cluster' && ref.type !== 'volume') return undefined;
    const projectId = await this.authz.parentOf(ref.type, ref.id, this.requested);
    return projectId === undefined ? undefined : { type: 'project', id: projectId };
  }
}

/** The `type:id` objects an explanation's text names. */
const OBJECT_REF = /\b([a-z][a-z0-9_]*):([a-zA-Z0-9/_|\-=+]+)/g;

export interface RedactableExplanation {
  allowed: boolean;
  resource: string;
  permission: string;
  subject: string;
  missing: string[];
  rules?: string[];
  explanation: string;
}

/**
 * The refusal of an object the caller may not see, existing or not, as explain answers one that
 * has no relationships at all: the relations its permission's expression starts from, and that
 * expression. Nothing of its parents, nor how deep the rules go: an existing object reads
 * exactly as one that never existed.
 */
function asIfUnrelated<T extends RedactableExplanation>(answer: T, type: string): T {
  const target = `${answer.resource}#${answer.permission}`;
  const expression = permissionExpression(type, answer.permission);
  const starts = [...(expression ?? '').matchAll(/(\w+)(?:->\w+)?/g)]
    .map((m) => m[1] ?? '')
    .filter((name) => isResourceType(type) && isRelation(type, name));
  const missing = [...new Set(starts)].map((name) => `${answer.resource}#${name}`);
  const rules = expression === undefined ? [] : [`${type}#${answer.permission} = ${expression}`];
  return {
    ...answer,
    missing,
    ...(answer.rules === undefined ? {} : { rules }),
    explanation: `no relation grants ${target} to ${answer.subject}: ${answer.resource} has no ${missing.join(' or ') || 'relation'} that leads to it, and nothing the caller can see would grant it`,
  };
}

/**
 * A refused explanation keeps only the alternatives whose every object the caller may see;
 * with none left it says that nothing the caller can see grants it. Allowed answers and
 * backend callers get the whole path.
 */
export async function redactRefusal<T extends RedactableExplanation>(
  answer: T,
  disclosure: Disclosure,
): Promise<T> {
  if (answer.allowed || disclosure.learnsEverything) return answer;
  const target = `${answer.resource}#${answer.permission}`;
  const [type = '', id = ''] = answer.resource.split(/:(.*)/s);
  if (!(await disclosure.maySee({ type, id }))) return asIfUnrelated(answer, type);
  const refsOf = (text: string) =>
    [...text.matchAll(OBJECT_REF)].map((m) => ({
      type: m[1] ?? '',
      id: (m[2] ?? '').replace(/#.*$/, ''),
    }));
  const visible = await disclosure.visible(answer.missing.flatMap(refsOf));
  // The object asked about is the caller's own words: naming it back reveals nothing.
  visible.add(answer.resource);
  const missing = answer.missing.filter((entry) =>
    refsOf(entry).every((ref) => visible.has(`${ref.type}:${ref.id}`)),
  );
  const explanation =
    missing.length > 0
      ? `no relation grants ${target} to ${answer.subject}; of what the caller can see, it needs one of: ${missing.join(', ')}`
      : `no relation grants ${target} to ${answer.subject}, and nothing the caller can see would grant it`;
  return { ...answer, missing, explanation };
}
