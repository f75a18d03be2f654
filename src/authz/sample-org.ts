/**
 * The sample organization of the README, the playground and the tests: one user per persona
 * of the seed's matrix (testkit/matrix.ts says who holds what), and the operations that build
 * it. It ships with the service because `authz seed` creates it through the service.
 */
export const PERSONAS = [
  'owner',
  'org_admin_joined',
  'org_admin_not_joined',
  'org_member_in_project',
  'org_member_project_admin',
  'org_member_outside',
  'external_admin',
  'external_member',
  'stranger',
] as const;
export type Persona = (typeof PERSONAS)[number];

export const SAMPLE = {
  orgId: 'acme',
  projectId: 'acme_ml',
  otherProjectId: 'acme_web',
  clusterId: 'acme_gpu1',
  volumeId: 'acme_vol1',
} as const;

/** The user id of each persona in the sample organization. */
export const userOf = (persona: Persona): string => persona;

/**
 * The domain operations that build the sample organization, in order, as the service performs
 * them: `actor` calls `op` with `input`.
 */
export const SAMPLE_SETUP: Array<{ actor: Persona; op: string; input: Record<string, string> }> = [
  { actor: 'owner', op: 'org.create', input: { orgId: SAMPLE.orgId } },
  {
    actor: 'owner',
    op: 'org.addMember',
    input: { orgId: SAMPLE.orgId, userId: 'org_admin_joined', role: 'admin' },
  },
  {
    actor: 'owner',
    op: 'org.addMember',
    input: { orgId: SAMPLE.orgId, userId: 'org_admin_not_joined', role: 'admin' },
  },
  {
    actor: 'owner',
    op: 'org.addMember',
    input: { orgId: SAMPLE.orgId, userId: 'org_member_in_project', role: 'member' },
  },
  {
    actor: 'owner',
    op: 'org.addMember',
    input: { orgId: SAMPLE.orgId, userId: 'org_member_project_admin', role: 'member' },
  },
  {
    actor: 'owner',
    op: 'org.addMember',
    input: { orgId: SAMPLE.orgId, userId: 'org_member_outside', role: 'member' },
  },
  {
    actor: 'owner',
    op: 'project.create',
    input: { orgId: SAMPLE.orgId, projectId: SAMPLE.projectId },
  },
  {
    actor: 'owner',
    op: 'project.create',
    input: { orgId: SAMPLE.orgId, projectId: SAMPLE.otherProjectId },
  },
  { actor: 'org_admin_joined', op: 'project.join', input: { projectId: SAMPLE.projectId } },
  {
    actor: 'owner',
    op: 'project.addCollaborator',
    input: { projectId: SAMPLE.projectId, userId: 'org_member_in_project' },
  },
  {
    actor: 'owner',
    op: 'project.addCollaborator',
    input: { projectId: SAMPLE.projectId, userId: 'org_member_project_admin' },
  },
  {
    actor: 'owner',
    op: 'project.setCollaboratorRole',
    input: { projectId: SAMPLE.projectId, userId: 'org_member_project_admin', role: 'admin' },
  },
  {
    actor: 'owner',
    op: 'project.addCollaborator',
    input: { projectId: SAMPLE.projectId, userId: 'external_admin', role: 'admin' },
  },
  {
    actor: 'owner',
    op: 'project.addCollaborator',
    input: { projectId: SAMPLE.projectId, userId: 'external_member' },
  },
  {
    actor: 'owner',
    op: 'cluster.create',
    input: { projectId: SAMPLE.projectId, clusterId: SAMPLE.clusterId },
  },
  {
    actor: 'owner',
    op: 'volume.create',
    input: { projectId: SAMPLE.projectId, volumeId: SAMPLE.volumeId },
  },
];
