/**
 * The model behind test/e2e/two-tenant.test.ts: two organizations with every persona of the
 * matrix (testkit/matrix.ts), the state a sequence of procedures builds, what the policy lets
 * each caller do (allow/deny of every mutation) and see (CONTRACT "What a caller may learn").
 */
import fc from 'fast-check';
import { EXPECTED, PERSONAS, SAMPLE, SAMPLE_SETUP, type Persona } from '../../testkit/matrix.js';

export type ObjectKind = 'organization' | 'project' | 'cluster' | 'volume';
export type Kind = ObjectKind | 'user';
type Role = 'admin' | 'member';

/** The characters of an id (CONTRACT "Ids"): anything else separates two ids in a body. */
const NOT_ID_CHAR = /[^A-Za-z0-9/_|\-=+]+/;
export const tokensOf = (text: string): string[] => text.split(NOT_ID_CHAR).filter(Boolean);

export const TENANTS = ['a', 'b'] as const;
type Tenant = (typeof TENANTS)[number];

/** The ids one sequence uses: every one starts with its own prefix, so sequences never meet. */
export class Universe {
  readonly users: string[];
  readonly orgs: string[];
  readonly projects: string[];
  readonly clusters: string[];
  readonly volumes: string[];
  /** Ids of each kind that no step ever creates: the "does not exist" twins. */
  readonly ghost: Record<ObjectKind, string>;
  readonly all: Set<string>;

  constructor(readonly prefix: string) {
    this.users = [
      ...TENANTS.flatMap((t) =>
        PERSONAS.filter((p) => p !== 'stranger').map((p) => this.user(t, p)),
      ),
      `${prefix}stranger`,
      `${prefix}new1`,
      `${prefix}new2`,
    ];
    this.orgs = [...TENANTS.map((t) => this.id(t, SAMPLE.orgId)), `${prefix}org_new`];
    this.projects = [
      ...TENANTS.flatMap((t) => [this.id(t, SAMPLE.projectId), this.id(t, SAMPLE.otherProjectId)]),
      `${prefix}proj_new1`,
      `${prefix}proj_new2`,
    ];
    this.clusters = [...TENANTS.map((t) => this.id(t, SAMPLE.clusterId)), `${prefix}gpu_new`];
    this.volumes = [...TENANTS.map((t) => this.id(t, SAMPLE.volumeId)), `${prefix}vol_new`];
    this.ghost = {
      organization: `${prefix}ghost_org`,
      project: `${prefix}ghost_proj`,
      cluster: `${prefix}ghost_gpu`,
      volume: `${prefix}ghost_vol`,
    };
    this.all = new Set([
      ...this.users,
      ...this.orgs,
      ...this.projects,
      ...this.clusters,
      ...this.volumes,
      ...Object.values(this.ghost),
    ]);
  }

  id(tenant: Tenant, sampleId: string): string {
    return `${this.prefix}${tenant}_${sampleId}`;
  }

  user(tenant: Tenant, persona: Persona): string {
    return persona === 'stranger' ? `${this.prefix}stranger` : `${this.prefix}${tenant}_${persona}`;
  }

  /** SAMPLE_SETUP for one tenant, in this universe's ids. */
  setup(tenant: Tenant): Call[] {
    const map = (value: string) =>
      (PERSONAS as readonly string[]).includes(value)
        ? this.user(tenant, value as Persona)
        : Object.values(SAMPLE).includes(value as never)
          ? this.id(tenant, value)
          : value;
    return SAMPLE_SETUP.map((step) => ({
      caller: this.user(tenant, step.actor),
      path: step.op,
      input: Object.fromEntries(Object.entries(step.input).map(([k, v]) => [k, map(v)])),
    }));
  }

  pool(kind: Kind, withGhost: boolean): string[] {
    const ids = {
      organization: this.orgs,
      project: this.projects,
      cluster: this.clusters,
      volume: this.volumes,
      user: this.users,
    }[kind];
    return withGhost && kind !== 'user' ? [...ids, this.ghost[kind]] : ids;
  }
}

export interface Call {
  caller: string;
  path: string;
  input: Record<string, unknown>;
}

class Org {
  admins = new Set<string>();
  members = new Set<string>();
  invites = new Map<string, Role>();
  projects = new Set<string>();
  constructor(public owner: string) {}
}

class Project {
  admins = new Set<string>();
  members = new Set<string>();
  clusters = new Set<string>();
  volumes = new Set<string>();
  constructor(readonly org: string) {}
}

const ORG_ADMIN_PERMISSIONS = new Set(
  Object.entries(EXPECTED.organization)
    .filter(([, holders]) => !holders.includes('org_member_outside'))
    .map(([p]) => p),
);
const PROJECT_ADMIN_PERMISSIONS = new Set(
  Object.entries(EXPECTED.project)
    .filter(([, holders]) => !holders.includes('org_member_in_project'))
    .map(([p]) => p),
);
const CHILD_ADMIN_PERMISSIONS = new Set(['delete', 'scale', 'modify_config', 'resize']);

/** Every public permission of each type, from the matrix (and the user's own). */
export const PERMISSIONS: Record<Kind, string[]> = {
  organization: Object.keys(EXPECTED.organization),
  project: Object.keys(EXPECTED.project),
  cluster: Object.keys(EXPECTED.cluster),
  volume: Object.keys(EXPECTED.volume),
  user: ['view_profile'],
};

/** What a mutation is predicted to do: succeed (and change the model) or be refused. */
export type Prediction = { ok: true; apply: () => void } | { ok: false; why: string };

const refuse = (why: string): Prediction => ({ ok: false, why });

/** The state a sequence has built, as the policy reads it. */
export class Model {
  readonly orgs = new Map<string, Org>();
  readonly projects = new Map<string, Project>();
  readonly clusterOf = new Map<string, string>();
  readonly volumeOf = new Map<string, string>();

  constructor(readonly universe: Universe) {}

  // -- roles, as schema.zed computes them --------------------------------------------------
  orgAdmin(orgId: string, u: string): boolean {
    const o = this.orgs.get(orgId);
    return o !== undefined && (o.owner === u || o.admins.has(u));
  }
  orgMember(orgId: string, u: string): boolean {
    return this.orgAdmin(orgId, u) || (this.orgs.get(orgId)?.members.has(u) ?? false);
  }
  collaborator(projectId: string, u: string): boolean {
    const p = this.projects.get(projectId);
    return p !== undefined && (p.admins.has(u) || p.members.has(u));
  }
  projectAdmin(projectId: string, u: string): boolean {
    const p = this.projects.get(projectId);
    return p !== undefined && (p.admins.has(u) || (p.members.has(u) && this.orgAdmin(p.org, u)));
  }

  exists(kind: Kind, id: string): boolean {
    switch (kind) {
      case 'organization':
        return this.orgs.has(id);
      case 'project':
        return this.projects.has(id);
      case 'cluster':
        return this.clusterOf.has(id);
      case 'volume':
        return this.volumeOf.has(id);
      case 'user':
        return true;
    }
  }

  /** `kind:id#permission` for user `u`, as SpiceDB should answer it. */
  holds(kind: Kind, id: string, permission: string, u: string): boolean {
    switch (kind) {
      case 'user':
        return permission === 'view_profile' && id === u;
      case 'organization': {
        const o = this.orgs.get(id);
        if (o === undefined) return false;
        if (permission === 'view_name') {
          return this.orgMember(id, u) || [...o.projects].some((p) => this.collaborator(p, u));
        }
        return ORG_ADMIN_PERMISSIONS.has(permission) ? this.orgAdmin(id, u) : this.orgMember(id, u);
      }
      case 'project': {
        const p = this.projects.get(id);
        if (p === undefined) return false;
        if (permission === 'view_name') return this.collaborator(id, u) || this.orgMember(p.org, u);
        return PROJECT_ADMIN_PERMISSIONS.has(permission)
          ? this.projectAdmin(id, u)
          : this.collaborator(id, u);
      }
      case 'cluster':
      case 'volume': {
        const parent = (kind === 'cluster' ? this.clusterOf : this.volumeOf).get(id);
        if (parent === undefined) return false;
        return CHILD_ADMIN_PERMISSIONS.has(permission)
          ? this.projectAdmin(parent, u)
          : this.collaborator(parent, u);
      }
    }
  }

  /** May `u` know that `kind:id` exists (CONTRACT: view_name; clusters and volumes: view). */
  maySee(kind: Kind, id: string, u: string): boolean {
    if (kind === 'user') return this.visibleUsers(u).has(id);
    return this.holds(kind, id, kind === 'cluster' || kind === 'volume' ? 'view' : 'view_name', u);
  }

  /**
   * The users `u` could find through org.listMembers / org.listInvitations (read_members) and
   * project.listCollaborators (read_collaborators), and themself.
   */
  visibleUsers(u: string): Set<string> {
    const users = new Set([u]);
    for (const [id, o] of this.orgs) {
      if (!this.orgMember(id, u)) continue;
      for (const x of [o.owner, ...o.admins, ...o.members, ...o.invites.keys()]) users.add(x);
    }
    for (const [id, p] of this.projects) {
      if (!this.collaborator(id, u)) continue;
      for (const x of [...p.admins, ...p.members]) users.add(x);
    }
    return users;
  }

  /** Every id of this universe `u` may see. */
  visible(u: string): Set<string> {
    const seen = this.visibleUsers(u);
    for (const kind of ['organization', 'project', 'cluster', 'volume'] as const) {
      for (const id of this.universe.pool(kind, true)) if (this.maySee(kind, id, u)) seen.add(id);
    }
    return seen;
  }

  // -- mutations ---------------------------------------------------------------------------
  private removeFromOrg(orgId: string, u: string): void {
    const o = this.orgs.get(orgId);
    if (o === undefined) return;
    o.admins.delete(u);
    o.members.delete(u);
    for (const p of o.projects) this.removeCollaborator(p, u);
  }
  private removeCollaborator(projectId: string, u: string): void {
    const p = this.projects.get(projectId);
    p?.admins.delete(u);
    p?.members.delete(u);
  }
  private deleteProject(projectId: string): void {
    const p = this.projects.get(projectId);
    if (p === undefined) return;
    for (const c of p.clusters) this.clusterOf.delete(c);
    for (const v of p.volumes) this.volumeOf.delete(v);
    this.orgs.get(p.org)?.projects.delete(projectId);
    this.projects.delete(projectId);
  }

  /** What the policy says `call` does, from the state before it. */
  predict(call: Call): Prediction {
    const u = call.caller;
    const i = call.input as Record<string, string | boolean | undefined>;
    const orgId = String(i.orgId);
    const projectId = String(i.projectId);
    const userId = String(i.userId);
    const o = this.orgs.get(orgId);
    const p = this.projects.get(projectId);
    switch (call.path) {
      case 'org.create':
        if (o) return refuse('organization exists');
        return { ok: true, apply: () => this.orgs.set(orgId, new Org(u)) };
      case 'org.addMember':
        if (!o || !this.orgAdmin(orgId, u)) return refuse('needs invite_member');
        if (this.orgMember(orgId, userId)) return refuse('already a member');
        return {
          ok: true,
          apply: () => {
            (i.role === 'admin' ? o.admins : o.members).add(userId);
            o.invites.delete(userId);
          },
        };
      case 'org.invite':
        if (!o || !this.orgAdmin(orgId, u)) return refuse('needs invite_member');
        if (this.orgMember(orgId, userId) || o.invites.has(userId))
          return refuse('member or invited');
        return {
          ok: true,
          apply: () => o.invites.set(userId, i.role === 'admin' ? 'admin' : 'member'),
        };
      case 'org.acceptInvitation': {
        const role = o?.invites.get(u);
        if (!o || role === undefined) return refuse('no invitation');
        if (this.orgMember(orgId, u)) return refuse('already a member');
        return {
          ok: true,
          apply: () => {
            o.invites.delete(u);
            (role === 'admin' ? o.admins : o.members).add(u);
          },
        };
      }
      case 'org.declineInvitation':
        if (!o?.invites.has(u)) return refuse('no invitation');
        return { ok: true, apply: () => o.invites.delete(u) };
      case 'org.revokeInvitation':
        if (!o || !this.orgAdmin(orgId, u)) return refuse('needs invite_member');
        if (!o.invites.has(userId)) return refuse('no invitation');
        return { ok: true, apply: () => o.invites.delete(userId) };
      case 'org.leave':
        if (!o || !this.orgMember(orgId, u)) return refuse('not a member');
        if (o.owner === u) return refuse('the owner stays');
        return { ok: true, apply: () => this.removeFromOrg(orgId, u) };
      case 'org.removeMember':
        if (!o || !this.orgAdmin(orgId, u)) return refuse('needs remove_member');
        if (!this.orgMember(orgId, userId)) return refuse('not a member');
        if (o.owner === userId) return refuse('the owner stays');
        return { ok: true, apply: () => this.removeFromOrg(orgId, userId) };
      case 'org.setMemberRole':
        if (!o || !this.orgAdmin(orgId, u)) return refuse('needs manage_roles');
        if (!this.orgMember(orgId, userId)) return refuse('not a member');
        if (o.owner === userId) return refuse('the owner keeps their role');
        return {
          ok: true,
          apply: () => {
            o.admins.delete(userId);
            o.members.delete(userId);
            (i.role === 'admin' ? o.admins : o.members).add(userId);
          },
        };
      case 'org.transferOwnership':
        if (!o || o.owner !== u) return refuse('owner only');
        if (userId === u || !o.admins.has(userId)) return refuse('only to an admin');
        return {
          ok: true,
          apply: () => {
            o.admins.delete(userId);
            o.admins.add(o.owner);
            o.owner = userId;
          },
        };
      case 'org.delete':
        if (!o || o.owner !== u) return refuse('owner only');
        if (o.projects.size > 0 && i.cascade !== true) return refuse('projects remain');
        return {
          ok: true,
          apply: () => {
            for (const project of [...o.projects]) this.deleteProject(project);
            this.orgs.delete(orgId);
          },
        };
      case 'project.create':
        if (!o || !this.orgAdmin(orgId, u)) return refuse('needs create_project');
        if (p) return refuse('project exists');
        return {
          ok: true,
          apply: () => {
            const created = new Project(orgId);
            created.admins.add(u);
            this.projects.set(projectId, created);
            o.projects.add(projectId);
          },
        };
      case 'project.delete':
        if (!p || !this.projectAdmin(projectId, u)) return refuse('needs write_settings');
        return { ok: true, apply: () => this.deleteProject(projectId) };
      case 'project.join':
        if (!p || !this.orgAdmin(p.org, u)) return refuse('organization admins only');
        return {
          ok: true,
          apply: () => {
            p.members.delete(u);
            p.admins.add(u);
          },
        };
      case 'project.addCollaborator': {
        if (!p || !this.projectAdmin(projectId, u)) return refuse('needs add_collaborator');
        const orgAdmin = this.orgAdmin(p.org, userId);
        if (i.role === 'member' && orgAdmin)
          return refuse('an organization admin is a project admin');
        if (this.collaborator(projectId, userId)) return refuse('already a collaborator');
        const role = i.role ?? (orgAdmin ? 'admin' : 'member');
        return { ok: true, apply: () => (role === 'admin' ? p.admins : p.members).add(userId) };
      }
      case 'project.setCollaboratorRole':
        if (!p || !this.projectAdmin(projectId, u)) return refuse('needs manage_roles');
        if (!this.collaborator(projectId, userId)) return refuse('not a collaborator');
        if (i.role === 'member' && this.orgAdmin(p.org, userId)) {
          return refuse('an organization admin is a project admin');
        }
        return {
          ok: true,
          apply: () => {
            this.removeCollaborator(projectId, userId);
            (i.role === 'admin' ? p.admins : p.members).add(userId);
          },
        };
      case 'project.removeCollaborator':
        if (!p || !this.projectAdmin(projectId, u)) return refuse('needs remove_collaborator');
        if (!this.collaborator(projectId, userId)) return refuse('not a collaborator');
        return { ok: true, apply: () => this.removeCollaborator(projectId, userId) };
      case 'cluster.create':
      case 'volume.create': {
        const kind = call.path === 'cluster.create' ? 'cluster' : 'volume';
        const childId = String(kind === 'cluster' ? i.clusterId : i.volumeId);
        if (!p || !this.projectAdmin(projectId, u)) return refuse(`needs create_${kind}`);
        const parents = kind === 'cluster' ? this.clusterOf : this.volumeOf;
        if (parents.has(childId)) return refuse(`${kind} exists`);
        return {
          ok: true,
          apply: () => {
            parents.set(childId, projectId);
            (kind === 'cluster' ? p.clusters : p.volumes).add(childId);
          },
        };
      }
      case 'cluster.delete':
      case 'volume.delete': {
        const kind = call.path === 'cluster.delete' ? 'cluster' : 'volume';
        const childId = String(kind === 'cluster' ? i.clusterId : i.volumeId);
        const parents = kind === 'cluster' ? this.clusterOf : this.volumeOf;
        const parent = parents.get(childId);
        if (parent === undefined || !this.projectAdmin(parent, u)) return refuse('needs delete');
        return {
          ok: true,
          apply: () => {
            parents.delete(childId);
            const project = this.projects.get(parent);
            (kind === 'cluster' ? project?.clusters : project?.volumes)?.delete(childId);
          },
        };
      }
      case 'user.deleteAccount':
        if ([...this.orgs.values()].some((org) => org.owner === u)) return refuse('an owner');
        return {
          ok: true,
          apply: () => {
            for (const org of this.orgs.values()) {
              org.admins.delete(u);
              org.members.delete(u);
              org.invites.delete(u);
            }
            for (const id of this.projects.keys()) this.removeCollaborator(id, u);
          },
        };
      default:
        throw new Error(`the model does not know ${call.path}`);
    }
  }

  /**
   * What a query should answer (ids sorted), or undefined where only the leak scan applies;
   * `refused` where the caller may not ask.
   */
  expectQuery(call: Call): { refused: true } | { refused: false; answer?: unknown } {
    const u = call.caller;
    const i = call.input;
    const orgId = String(i.orgId);
    const projectId = String(i.projectId);
    const sorted = (ids: Iterable<string>) => [...ids].sort();
    switch (call.path) {
      case 'org.listMembers': {
        const o = this.orgs.get(orgId);
        if (!o || !this.orgMember(orgId, u)) return { refused: true };
        return { refused: false, answer: sorted([o.owner, ...o.admins, ...o.members]) };
      }
      case 'org.listInvitations': {
        const o = this.orgs.get(orgId);
        if (!o || !this.orgMember(orgId, u)) return { refused: true };
        return { refused: false, answer: sorted(o.invites.keys()) };
      }
      case 'project.listCollaborators': {
        const p = this.projects.get(projectId);
        if (!p || !this.collaborator(projectId, u)) return { refused: true };
        return { refused: false, answer: sorted([...p.admins, ...p.members]) };
      }
      case 'cluster.list':
      case 'volume.list': {
        const p = this.projects.get(projectId);
        if (!p || !this.collaborator(projectId, u)) return { refused: true };
        return {
          refused: false,
          answer: sorted(call.path === 'cluster.list' ? p.clusters : p.volumes),
        };
      }
      case 'authz.check':
      case 'authz.explain': {
        const [kind, id] = splitRef(String(i.resource));
        return { refused: false, answer: this.holds(kind, id, String(i.permission), u) };
      }
      case 'authz.checkBulk': {
        const items = i.items as Array<{ resource: string; permission: string }>;
        return {
          refused: false,
          answer: items.map((item) => {
            const [kind, id] = splitRef(item.resource);
            return this.holds(kind, id, item.permission, u);
          }),
        };
      }
      case 'authz.lookupResources': {
        const kind = i.resourceType as Kind;
        const permission = String(i.permission);
        return {
          refused: false,
          answer: sorted(
            this.universe.pool(kind, true).filter((id) => this.holds(kind, id, permission, u)),
          ),
        };
      }
      case 'authz.lookupSubjects': {
        const [kind, id] = splitRef(String(i.resource));
        const mayList =
          kind === 'user'
            ? id === u
            : kind === 'organization'
              ? this.orgMember(id, u)
              : this.collaborator(kind === 'project' ? id : (this.parentOf(kind, id) ?? ''), u);
        if (!mayList) return { refused: true };
        // Holders the caller may see: a subset check (the answer is per-object, the model global).
        return { refused: false };
      }
      default:
        throw new Error(`the model does not know ${call.path}`);
    }
  }

  parentOf(kind: 'cluster' | 'volume', id: string): string | undefined {
    return (kind === 'cluster' ? this.clusterOf : this.volumeOf).get(id);
  }
}

export const splitRef = (ref: string): [Kind, string] => {
  const at = ref.indexOf(':');
  return [ref.slice(0, at) as Kind, ref.slice(at + 1)];
};

// -- the random steps ------------------------------------------------------------------------

export const MUTATIONS = [
  'org.create',
  'org.addMember',
  'org.invite',
  'org.acceptInvitation',
  'org.declineInvitation',
  'org.revokeInvitation',
  'org.leave',
  'org.delete',
  'org.setMemberRole',
  'org.removeMember',
  'org.transferOwnership',
  'project.create',
  'project.delete',
  'project.join',
  'project.addCollaborator',
  'project.setCollaboratorRole',
  'project.removeCollaborator',
  'cluster.create',
  'cluster.delete',
  'volume.create',
  'volume.delete',
  'user.deleteAccount',
] as const;

export const QUERIES = [
  'org.listMembers',
  'org.listInvitations',
  'project.listCollaborators',
  'cluster.list',
  'volume.list',
  'authz.check',
  'authz.checkBulk',
  'authz.lookupResources',
  'authz.lookupSubjects',
  'authz.explain',
] as const;

const RARE = new Set<string>(['org.delete', 'user.deleteAccount', 'org.transferOwnership']);

export interface Step {
  path: string;
  /** Picks the caller; with `power` 0 among those the policy lets make the call, if any. */
  actor: number;
  power: number;
  a: number;
  b: number;
  c: number;
  flag: boolean;
}

export const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  path: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...QUERIES) },
    // The answers that name other objects and people: refused explanations and lookups.
    {
      weight: 2,
      arbitrary: fc.constantFrom('authz.explain', 'authz.lookupSubjects', 'authz.lookupResources'),
    },
    {
      weight: 5,
      arbitrary: fc.constantFrom(...MUTATIONS.filter((m) => !RARE.has(m))),
    },
    { weight: 1, arbitrary: fc.constantFrom(...MUTATIONS.filter((m) => RARE.has(m))) },
  ),
  actor: fc.nat(),
  power: fc.nat({ max: 2 }),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
  flag: fc.boolean(),
});

const pick = <T>(values: readonly T[], n: number): T => values[n % values.length] as T;
const KINDS: Kind[] = ['organization', 'project', 'cluster', 'volume', 'user'];
export const IN_A_DAY = () => new Date(Date.now() + 86_400_000).toISOString();

/** The input of `step` for `caller` in this universe (creates never use a ghost id). */
function inputOf(step: Step, universe: Universe): Record<string, unknown> {
  const { a, b, c, flag } = step;
  const org = pick(universe.pool('organization', true), a);
  const creatableOrg = pick(universe.pool('organization', false), a);
  const project = pick(universe.pool('project', true), a);
  const creatableProject = pick(universe.pool('project', false), b);
  const user = pick(universe.users, b);
  const role = flag ? 'admin' : 'member';
  const ref = (n: number, m: number) => {
    const kind = pick(KINDS, n);
    return { resource: `${kind}:${pick(universe.pool(kind, true), m)}`, kind };
  };
  const permissionOf = (kind: Kind, n: number) => pick(PERMISSIONS[kind], n);
  const expiry = c % 5 === 0 ? { expiresAt: IN_A_DAY() } : {};
  switch (step.path) {
    case 'org.create':
      return { orgId: creatableOrg };
    case 'org.addMember':
    case 'org.invite':
      return { orgId: org, userId: user, role, ...expiry };
    case 'org.setMemberRole':
      return { orgId: org, userId: user, role };
    case 'org.revokeInvitation':
    case 'org.removeMember':
    case 'org.transferOwnership':
      return { orgId: org, userId: user };
    case 'org.delete':
      return { orgId: org, ...(c % 3 === 0 ? {} : { cascade: flag }) };
    case 'org.acceptInvitation':
    case 'org.declineInvitation':
    case 'org.leave':
    case 'org.listMembers':
    case 'org.listInvitations':
      return { orgId: org };
    case 'project.create':
      return { orgId: org, projectId: creatableProject };
    case 'project.delete':
    case 'project.join':
    case 'project.listCollaborators':
    case 'cluster.list':
    case 'volume.list':
      return { projectId: project };
    case 'project.addCollaborator': {
      const projectRole = pick([undefined, 'admin', 'member'] as const, c);
      return {
        projectId: project,
        userId: user,
        ...(projectRole ? { role: projectRole } : {}),
        ...expiry,
      };
    }
    case 'project.setCollaboratorRole':
      return { projectId: project, userId: user, role };
    case 'project.removeCollaborator':
      return { projectId: project, userId: user };
    case 'cluster.create':
      return { projectId: project, clusterId: pick(universe.pool('cluster', false), b) };
    case 'volume.create':
      return { projectId: project, volumeId: pick(universe.pool('volume', false), b) };
    case 'cluster.delete':
      return { clusterId: pick(universe.pool('cluster', true), a) };
    case 'volume.delete':
      return { volumeId: pick(universe.pool('volume', true), a) };
    case 'user.deleteAccount':
      return {};
    case 'authz.check':
    case 'authz.explain':
    case 'authz.lookupSubjects': {
      const { resource, kind } = ref(c, a);
      return { resource, permission: permissionOf(kind, b) };
    }
    case 'authz.checkBulk':
      return {
        items: Array.from({ length: 1 + (c % 4) }, (_, n) => {
          const { resource, kind } = ref(c + n, a + n * 7);
          return { resource, permission: permissionOf(kind, b + n * 3) };
        }),
      };
    case 'authz.lookupResources': {
      const kind = pick(KINDS, c);
      return { resourceType: kind, permission: permissionOf(kind, b) };
    }
    default:
      throw new Error(`no input for ${step.path}`);
  }
}

export const isMutation = (path: string): boolean =>
  (MUTATIONS as readonly string[]).includes(path);

/** The call a step makes in the current state. */
export function callOf(step: Step, model: Model): Call {
  const input = inputOf(step, model.universe);
  const users = model.universe.users;
  let caller = pick(users, step.actor);
  if (step.power === 0 && isMutation(step.path)) {
    const able = users.filter((u) => model.predict({ caller: u, path: step.path, input }).ok);
    if (able.length > 0) caller = pick(able, step.actor);
  }
  return { caller, path: step.path, input };
}

/**
 * The objects a call is about, that the caller names but may not see: an id a create makes is
 * not one (creating an existing id is CONFLICT, CONTRACT), nor an organization the caller holds
 * an invitation to when accepting or declining it.
 */
export function targetsOf(call: Call, model: Model): Array<{ kind: ObjectKind; id: string }> {
  const i = call.input;
  const found: Array<{ kind: ObjectKind; id: string }> = [];
  const add = (kind: Kind, id: unknown) => {
    if (kind !== 'user' && typeof id === 'string') found.push({ kind, id });
  };
  const [area] = call.path.split('.');
  if (area === 'org' && call.path !== 'org.create') add('organization', i.orgId);
  if (call.path === 'project.create') add('organization', i.orgId);
  else if (area === 'project' || call.path.endsWith('.create') || call.path.endsWith('.list')) {
    add('project', i.projectId);
  }
  if (call.path === 'cluster.delete') add('cluster', i.clusterId);
  if (call.path === 'volume.delete') add('volume', i.volumeId);
  if (typeof i.resource === 'string') add(...splitRef(i.resource));
  if (Array.isArray(i.items)) {
    for (const item of i.items as Array<{ resource: string }>) add(...splitRef(item.resource));
  }
  const invited =
    (call.path === 'org.acceptInvitation' || call.path === 'org.declineInvitation') &&
    (model.orgs.get(String(i.orgId))?.invites.has(call.caller) ?? false);
  if (invited) return [];
  return found
    .filter((t) => t.kind !== 'organization' || call.path !== 'org.create')
    .filter((t) => !model.maySee(t.kind, t.id, call.caller));
}
