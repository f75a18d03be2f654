import type { CheckPair, ResourceTypePair } from '../src/authz/check-pair.js';

/**
 * A pair as the tests' data hold it (matrix cells, fuzzed or deliberately wrong inputs) where the
 * compiler cannot see that the permission belongs to the type: the service validates it anyway,
 * and some tests send bad pairs on purpose to see it refused.
 */
export function anyPair(resource: string, permission: string): CheckPair {
  return { resource, permission } as CheckPair;
}

/** The same for authz.lookupResources' `{ resourceType, permission }`. */
export function anyTypePair(resourceType: string, permission: string): ResourceTypePair {
  return { resourceType, permission } as ResourceTypePair;
}
