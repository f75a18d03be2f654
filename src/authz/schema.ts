import {
  CAVEATS,
  DEFINITIONS,
  type CaveatShape,
  type PermissionName,
  type RelationName,
  type ResourceType as DefinedType,
  type SubjectTypeShape,
} from './schema.generated.js';

/**
 * The types callers ask about: definitions with permissions. A definition of relations only
 * (invitation: pending invitations that grant nothing) is data the service keeps, not a resource.
 */
export type ResourceType = {
  [K in DefinedType]: keyof (typeof DEFINITIONS)[K]['permissions'] extends never ? never : K;
}[DefinedType];

/**
 * The names of schema.zed that the service and its callers rely on, as TypeScript types and
 * runtime lists, all read from the generated module (`npm run schema:gen`): nothing here
 * repeats the schema.
 *
 * Public or internal: every permission of schema.zed is part of the public surface (the
 * contract's permission table, one per row of the roles page) unless it is named below, where
 * the compiler checks each name against the generated module. So a permission added to the
 * schema is public by default, and the typecheck fails until the roles matrix
 * (testkit/matrix.ts, typed by PublicPermission) says who holds it.
 */
const INTERNAL = {
  organization: ['admin_role', 'member_role', 'transfer_ownership', 'join_projects'],
  project: ['admin_role', 'collaborator'],
} as const satisfies { readonly [T in ResourceType]?: readonly PermissionName<T>[] };

export type { DefinedType, RelationName, PermissionName, SubjectTypeShape, CaveatShape };

/** Permissions the service evaluates for its own policy; not part of the contract's surface. */
export type InternalPermission<T extends ResourceType = ResourceType> = {
  [K in T]: K extends keyof typeof INTERNAL ? (typeof INTERNAL)[K][number] : never;
}[T];
export type PublicPermission<T extends ResourceType = ResourceType> = {
  [K in T]: Exclude<PermissionName<K>, InternalPermission<K>>;
}[T];
export type Permission<T extends ResourceType = ResourceType> = PermissionName<T>;
export type Relation<T extends ResourceType = ResourceType> = RelationName<T>;

/** Every `type#permission` pair a caller may ask about, e.g. `cluster#ssh`. */
export type QualifiedPermission = {
  [T in ResourceType]: `${T}#${PublicPermission<T>}`;
}[ResourceType];

export const RESOURCE_TYPES = (Object.keys(DEFINITIONS) as DefinedType[]).filter(
  (type) => Object.keys(DEFINITIONS[type].permissions).length > 0,
) as ResourceType[];

export function isResourceType(value: string): value is ResourceType {
  return (RESOURCE_TYPES as readonly string[]).includes(value);
}

const internalOf = (type: ResourceType): readonly string[] =>
  (INTERNAL as Partial<Record<ResourceType, readonly string[]>>)[type] ?? [];

const perType = (names: (type: ResourceType) => readonly string[]) =>
  Object.fromEntries(RESOURCE_TYPES.map((type) => [type, names(type)])) as Record<
    ResourceType,
    readonly string[]
  >;

export const INTERNAL_PERMISSIONS = perType(internalOf) as {
  readonly [T in ResourceType]: readonly InternalPermission<T>[];
};

export const PUBLIC_PERMISSIONS = perType((type) =>
  Object.keys(DEFINITIONS[type].permissions).filter((p) => !internalOf(type).includes(p)),
) as { readonly [T in ResourceType]: readonly PublicPermission<T>[] };

/** Every public permission name of any type, for a zod enum: a typo does not compile. */
export const PUBLIC_PERMISSION_NAMES = [
  ...new Set(RESOURCE_TYPES.flatMap((type) => PUBLIC_PERMISSIONS[type])),
] as [PublicPermission, ...PublicPermission[]];

export function isPublicPermission<T extends ResourceType>(
  type: T,
  permission: string,
): permission is PublicPermission<T> {
  return (PUBLIC_PERMISSIONS[type] as readonly string[]).includes(permission);
}

export function isPermission<T extends ResourceType>(
  type: T,
  name: string,
): name is PermissionName<T> {
  return Object.hasOwn(DEFINITIONS[type].permissions, name);
}

export function isRelation<T extends ResourceType>(type: T, name: string): name is RelationName<T> {
  return Object.hasOwn(DEFINITIONS[type].relations, name);
}

export function publicPermissionPairs(): Array<{ type: ResourceType; permission: string }> {
  return RESOURCE_TYPES.flatMap((type) =>
    PUBLIC_PERMISSIONS[type].map((permission) => ({ type, permission })),
  );
}

/**
 * A permission's expression as SpiceDB writes it back, e.g. `admin + (member &
 * organization->admin_role)`; undefined for an unknown type or permission.
 */
export function permissionExpression(type: string, permission: string): string | undefined {
  if (!isResourceType(type) || !isPermission(type, permission)) return undefined;
  const permissions: Readonly<Record<string, { expression: string }>> =
    DEFINITIONS[type].permissions;
  return permissions[permission]?.expression;
}

/** The subject types a relation allows (empty for an unknown type or relation). */
export function allowedSubjectTypes(type: string, relation: string): readonly SubjectTypeShape[] {
  if (!isResourceType(type) || !isRelation(type, relation)) return [];
  const relations: Readonly<Record<string, { subjectTypes: readonly SubjectTypeShape[] }>> =
    DEFINITIONS[type].relations;
  return relations[relation]?.subjectTypes ?? [];
}

export function caveatOf(name: string): CaveatShape | undefined {
  return Object.hasOwn(CAVEATS, name) ? (CAVEATS as Record<string, CaveatShape>)[name] : undefined;
}

/** The organization relations that carry roles. */
export const ORG_ROLES = [
  'owner',
  'admin',
  'member',
] as const satisfies readonly RelationName<'organization'>[];
export type OrgRole = (typeof ORG_ROLES)[number];
export const ASSIGNABLE_ORG_ROLES = ['admin', 'member'] as const satisfies readonly OrgRole[];
export type AssignableOrgRole = (typeof ASSIGNABLE_ORG_ROLES)[number];
export const PROJECT_ROLES = [
  'admin',
  'member',
] as const satisfies readonly RelationName<'project'>[];
export type ProjectRole = (typeof PROJECT_ROLES)[number];
