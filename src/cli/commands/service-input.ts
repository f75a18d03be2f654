import { checkPairOf } from '../../authz/check-pair.js';
import { parseObjectRef } from '../../authz/object-ref.js';
import {
  isPublicPermission,
  isResourceType,
  PUBLIC_PERMISSIONS,
  RESOURCE_TYPES,
} from '../../authz/schema.js';
import { UsageError } from '../io.js';
import { didYouMean } from '../suggest.js';

/**
 * The arguments and flags of the commands that call the service, read into the typed client's
 * inputs: a misspelt type or permission is a usage error naming the closest known one.
 */
export interface ServiceFlags {
  json?: boolean;
  url?: string;
  token?: string;
  context?: string;
  fullyConsistent?: boolean;
  atLeastAsFresh?: string;
}

export const subjectOf = (subject: string) => (subject.includes(':') ? subject : `user:${subject}`);

export function consistencyOf(flags: ServiceFlags) {
  if (flags.fullyConsistent && flags.atLeastAsFresh) {
    throw new UsageError('--fully-consistent and --at-least-as-fresh exclude each other');
  }
  if (flags.fullyConsistent) return { consistency: { fullyConsistent: true as const } };
  return flags.atLeastAsFresh ? { consistency: { atLeastAsFresh: flags.atLeastAsFresh } } : {};
}

export function resourceTypeOf(type: string) {
  if (!isResourceType(type)) {
    throw new UsageError(
      `unknown resource type "${type}"${didYouMean(type, RESOURCE_TYPES)}; one of: ${RESOURCE_TYPES.join(', ')}`,
    );
  }
  return type;
}

export function permissionOf(type: string, permission: string) {
  const resourceType = resourceTypeOf(type);
  if (!isPublicPermission(resourceType, permission)) {
    const known = PUBLIC_PERMISSIONS[resourceType];
    throw new UsageError(
      `"${permission}" is not a permission of ${resourceType}${didYouMean(permission, known)}; one of: ${known.join(', ')}`,
    );
  }
  return permission;
}

/** RESOURCE PERMISSION [SUBJECT] as the typed client's input; a bad name is a usage error. */
export function checkInput(resource: string, permission: string, subject: string | undefined) {
  const ref = parseObjectRef(resource);
  if ('error' in ref) throw new UsageError(`RESOURCE "${resource}" ${ref.error}`);
  permissionOf(ref.type, permission);
  // permissionOf refused any permission not of the resource's type, so the pair is typed.
  const pair = checkPairOf(resource, permission);
  if (pair === undefined)
    throw new UsageError(`"${permission}" is not a permission of ${ref.type}`);
  return { ...pair, ...(subject !== undefined ? { subject: subjectOf(subject) } : {}) };
}
