import type { PublicPermission, ResourceType } from '../src/authz/schema.js';
import { PERSONAS, SAMPLE, SAMPLE_SETUP, userOf, type Persona } from '../src/authz/sample-org.js';

// The sample organization itself ships with the service (`authz seed` creates it).
export { PERSONAS, SAMPLE, SAMPLE_SETUP, userOf, type Persona } from '../src/authz/sample-org.js';

/**
 * The seed's permission tables as a sample organization: one user per persona of the matrix,
 * and which personas hold each permission on its organization, project, cluster and volume.
 * Tests, the playground file and its assertions are all derived from this one table.
 */
const ORG_ADMINS: Persona[] = ['owner', 'org_admin_joined', 'org_admin_not_joined'];
const ORG_MEMBERS: Persona[] = [
  ...ORG_ADMINS,
  'org_member_in_project',
  'org_member_project_admin',
  'org_member_outside',
];
const PROJECT_ADMINS: Persona[] = [
  'owner',
  'org_admin_joined',
  'org_member_project_admin',
  'external_admin',
];
const PROJECT_COLLABORATORS: Persona[] = [
  ...PROJECT_ADMINS,
  'org_member_in_project',
  'external_member',
];
const EXTERNALS: Persona[] = ['external_admin', 'external_member'];

type Matrix = { [T in Exclude<ResourceType, 'user'>]: Record<PublicPermission<T>, Persona[]> };

/** Who holds what, row by row of the seed (personas not listed are refused). */
export const EXPECTED: Matrix = {
  organization: {
    read_settings: ORG_MEMBERS,
    write_settings: ORG_ADMINS,
    read_billing: ORG_MEMBERS,
    write_billing: ORG_ADMINS,
    read_projects: ORG_MEMBERS,
    create_project: ORG_ADMINS,
    read_members: ORG_MEMBERS,
    invite_member: ORG_ADMINS,
    remove_member: ORG_ADMINS,
    manage_roles: ORG_ADMINS,
    view_name: [...ORG_MEMBERS, ...EXTERNALS],
  },
  project: {
    read_settings: PROJECT_COLLABORATORS,
    write_settings: PROJECT_ADMINS,
    read_cost_analytics: PROJECT_COLLABORATORS,
    read_api_keys: PROJECT_COLLABORATORS,
    create_api_key: PROJECT_COLLABORATORS,
    revoke_api_key: PROJECT_COLLABORATORS,
    read_collaborators: PROJECT_COLLABORATORS,
    add_collaborator: PROJECT_ADMINS,
    remove_collaborator: PROJECT_ADMINS,
    manage_roles: PROJECT_ADMINS,
    view_name: [...new Set([...PROJECT_COLLABORATORS, ...ORG_MEMBERS])],
    create_cluster: PROJECT_ADMINS,
    create_volume: PROJECT_ADMINS,
    use_fine_tuning: PROJECT_COLLABORATORS,
    use_endpoints: PROJECT_COLLABORATORS,
    use_serverless_inference: PROJECT_COLLABORATORS,
  },
  cluster: {
    delete: PROJECT_ADMINS,
    scale: PROJECT_ADMINS,
    modify_config: PROJECT_ADMINS,
    view: PROJECT_COLLABORATORS,
    ssh: PROJECT_COLLABORATORS,
    run_kubectl: PROJECT_COLLABORATORS,
    access_dashboard: PROJECT_COLLABORATORS,
    submit_slurm_job: PROJECT_COLLABORATORS,
  },
  volume: {
    resize: PROJECT_ADMINS,
    view: PROJECT_COLLABORATORS,
    read_write: PROJECT_COLLABORATORS,
  },
};

export const SAMPLE_RESOURCE_ID: Record<Exclude<ResourceType, 'user'>, string> = {
  organization: SAMPLE.orgId,
  project: SAMPLE.projectId,
  cluster: SAMPLE.clusterId,
  volume: SAMPLE.volumeId,
};

export interface MatrixCell {
  persona: Persona;
  resource: { type: ResourceType; id: string };
  permission: string;
  expected: boolean;
}

/** Every cell: each persona against each permission, plus their own and another's profile. */
export function matrixCells(): MatrixCell[] {
  const cells: MatrixCell[] = [];
  for (const [type, permissions] of Object.entries(EXPECTED) as Array<
    [Exclude<ResourceType, 'user'>, Record<string, Persona[]>]
  >) {
    for (const [permission, holders] of Object.entries(permissions)) {
      for (const persona of PERSONAS) {
        cells.push({
          persona,
          resource: { type, id: SAMPLE_RESOURCE_ID[type] },
          permission,
          expected: holders.includes(persona),
        });
      }
    }
  }
  for (const persona of PERSONAS) {
    cells.push({
      persona,
      resource: { type: 'user', id: userOf(persona) },
      permission: 'view_profile',
      expected: true,
    });
    const other = persona === 'owner' ? 'stranger' : 'owner';
    cells.push({
      persona,
      resource: { type: 'user', id: userOf(other) },
      permission: 'view_profile',
      expected: false,
    });
  }
  return cells;
}

/** The sample organization under ids of its own: what scopedSample returns. */
export interface ScopedSample {
  sample: { [K in keyof typeof SAMPLE]: string };
  userOf: (persona: Persona) => string;
  setup: Array<{ actor: Persona; op: string; input: Record<string, string> }>;
  cells: MatrixCell[];
}

/** The input fields of SAMPLE_SETUP that name an object or a user (the rest are roles). */
const ID_FIELDS = new Set(['orgId', 'projectId', 'clusterId', 'volumeId', 'userId']);

/**
 * The sample organization, its setup and its matrix with every id (organization, projects,
 * cluster, volume and each persona's user) prefixed by `scope`: tests that share one SpiceDB
 * each build and read an organization nobody else writes to, in any order.
 */
export function scopedSample(scope: string): ScopedSample {
  const scoped = (id: string) => `${scope}_${id}`;
  const sample = Object.fromEntries(
    Object.entries(SAMPLE).map(([key, id]) => [key, scoped(id)]),
  ) as ScopedSample['sample'];
  const setup = SAMPLE_SETUP.map((step) => ({
    ...step,
    input: Object.fromEntries(
      Object.entries(step.input).map(([field, value]) => [
        field,
        ID_FIELDS.has(field) ? scoped(value) : value,
      ]),
    ),
  }));
  const cells = matrixCells().map((cell) => ({
    ...cell,
    resource: { type: cell.resource.type, id: scoped(cell.resource.id) },
  }));
  return { sample, userOf: (persona) => scoped(userOf(persona)), setup, cells };
}
