/**
 * The names of schema.zed that the service and its callers rely on, as TypeScript types.
 * test/unit/schema-names.test.ts parses schema.zed and fails when the two drift apart.
 */

export const PUBLIC_PERMISSIONS = {
  organization: [
    'read_settings',
    'write_settings',
    'read_billing',
    'write_billing',
    'read_projects',
    'create_project',
    'read_members',
    'invite_member',
    'remove_member',
    'manage_roles',
    'view_name',
  ],
  project: [
    'read_settings',
    'write_settings',
    'read_cost_analytics',
    'read_api_keys',
    'create_api_key',
    'revoke_api_key',
    'read_collaborators',
    'add_collaborator',
    'remove_collaborator',
    'manage_roles',
    'view_name',
    'create_cluster',
    'create_volume',
    'use_fine_tuning',
    'use_endpoints',
    'use_serverless_inference',
  ],
  cluster: [
    'delete',
    'scale',
    'modify_config',
    'view',
    'ssh',
    'run_kubectl',
    'access_dashboard',
    'submit_slurm_job',
  ],
  volume: ['resize', 'view', 'read_write'],
  user: ['view_profile'],
} as const;

/** Permissions the service evaluates for its own policy; not part of the contract's surface. */
export const INTERNAL_PERMISSIONS = {
  organization: ['admin_role', 'member_role', 'transfer_ownership', 'join_projects'],
  project: ['admin_role', 'collaborator'],
  cluster: [],
  volume: [],
  user: [],
} as const;

export const RELATIONS = {
  organization: { owner: 'user', admin: 'user', member: 'user', project: 'project' },
  project: { organization: 'organization', admin: 'user', member: 'user' },
  cluster: { project: 'project' },
  volume: { project: 'project' },
  user: {},
} as const;

export type ResourceType = keyof typeof PUBLIC_PERMISSIONS;
export type PublicPermission<T extends ResourceType = ResourceType> =
  (typeof PUBLIC_PERMISSIONS)[T][number];
export type InternalPermission<T extends ResourceType = ResourceType> =
  (typeof INTERNAL_PERMISSIONS)[T][number];
export type Permission<T extends ResourceType = ResourceType> =
  PublicPermission<T> | InternalPermission<T>;
export type Relation<T extends ResourceType = ResourceType> = keyof (typeof RELATIONS)[T] & string;

/** Every `type#permission` pair a caller may ask about, e.g. `cluster#ssh`. */
export type QualifiedPermission = {
  [T in ResourceType]: `${T}#${PublicPermission<T>}`;
}[ResourceType];

export const RESOURCE_TYPES = Object.keys(PUBLIC_PERMISSIONS) as ResourceType[];

export const ORG_ROLES = ['owner', 'admin', 'member'] as const;
export type OrgRole = (typeof ORG_ROLES)[number];
export const ASSIGNABLE_ORG_ROLES = ['admin', 'member'] as const;
export type AssignableOrgRole = (typeof ASSIGNABLE_ORG_ROLES)[number];
export const PROJECT_ROLES = ['admin', 'member'] as const;
export type ProjectRole = (typeof PROJECT_ROLES)[number];

export function isResourceType(value: string): value is ResourceType {
  return Object.hasOwn(PUBLIC_PERMISSIONS, value);
}

export function isPublicPermission<T extends ResourceType>(
  type: T,
  permission: string,
): permission is PublicPermission<T> {
  return (PUBLIC_PERMISSIONS[type] as readonly string[]).includes(permission);
}

export function publicPermissionPairs(): Array<{ type: ResourceType; permission: string }> {
  return RESOURCE_TYPES.flatMap((type) =>
    PUBLIC_PERMISSIONS[type].map((permission) => ({ type, permission })),
  );
}
