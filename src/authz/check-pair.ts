import {
  isPublicPermission,
  isResourceType,
  type PublicPermission,
  type ResourceType,
} from './schema.js';

/**
 * A resource of schema type `T` in the wire format (`project:p1`) with one of `T`'s
 * permissions: `{ resource: 'project:p1', permission: 'ssh' }` is not a CheckPair.
 */
export type CheckPair<T extends ResourceType = ResourceType> = {
  [K in T]: { resource: `${K}:${string}`; permission: PublicPermission<K> };
}[T];

/**
 * A resource type with one of its permissions (`authz.lookupResources`):
 * `{ resourceType: 'project', permission: 'ssh' }` is not a ResourceTypePair.
 */
export type ResourceTypePair<T extends ResourceType = ResourceType> = {
  [K in T]: { resourceType: K; permission: PublicPermission<K> };
}[T];

/**
 * The typed pair of two strings known only at run time (a form field, a command line), or
 * undefined when the permission is not one of the resource type's. Whether the id is valid is
 * still the service's to say.
 */
export function checkPairOf(resource: string, permission: string): CheckPair | undefined {
  const type = resource.slice(0, Math.max(0, resource.indexOf(':')));
  if (!isResourceType(type) || !isPublicPermission(type, permission)) return undefined;
  return { resource, permission } as CheckPair;
}

/** The same for a resource type and a permission (`authz.lookupResources`). */
export function typePairOf(resourceType: string, permission: string): ResourceTypePair | undefined {
  if (!isResourceType(resourceType) || !isPublicPermission(resourceType, permission)) {
    return undefined;
  }
  return { resourceType, permission } as ResourceTypePair;
}
