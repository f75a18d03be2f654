import {
  isPublicPermission,
  isResourceType,
  PUBLIC_PERMISSIONS,
  RESOURCE_TYPES,
  type ResourceType,
} from '../../src/authz/schema.js';
import { DEFINITIONS, type DefinitionShape } from '../../src/authz/schema.generated.js';
import type { AuthzInputs } from '../../src/client.js';

/** The scope of backend callers (CONTRACT "Callers"): they may ask about any subject. */
export const BACKEND_SCOPE_CLAIM = 'authz:check';

export { PUBLIC_PERMISSIONS, RESOURCE_TYPES, type ResourceType };

/** `type:id` split, or undefined when the type is not one of the schema's. */
export function parseObject(value: string): { type: ResourceType; id: string } | undefined {
  const colon = value.indexOf(':');
  if (colon <= 0) return undefined;
  const type = value.slice(0, colon);
  const id = value.slice(colon + 1);
  return isResourceType(type) && id !== '' ? { type, id } : undefined;
}

export const permissionsOf = (type: ResourceType): readonly string[] => PUBLIC_PERMISSIONS[type];

export const isPermissionOf = (type: ResourceType, permission: string) =>
  isPublicPermission(type, permission);

export type CheckInput = AuthzInputs['authz']['check'];
export type CheckItem = AuthzInputs['authz']['checkBulk']['items'][number];

/**
 * The page builds its questions from strings a person typed; the service validates them
 * (BAD_REQUEST names the field), so the page only shapes them into the typed inputs.
 */
export function checkInput(resource: string, permission: string, subject?: string): CheckInput {
  return { resource, permission, ...(subject ? { subject } : {}) } as unknown as CheckInput;
}

/** The roles page's row for a permission, as schema.zed's doc comment names it. */
export function permissionLabel(type: ResourceType, permission: string): string {
  const definition: DefinitionShape = DEFINITIONS[type];
  const comment = definition.permissions[permission]?.comment ?? '';
  return comment !== '' ? comment : permission.replace(/_/g, ' ');
}
