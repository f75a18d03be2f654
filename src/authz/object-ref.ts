import { isResourceType, type ResourceType } from './schema.js';

/*
 * Object references without zod: the CLI parses them on every start, and loading zod costs
 * more than the rest of its start. ids.ts builds the service's zod schemas on these.
 */

/** SpiceDB's object id rule without the wildcard. */
export const ID_PATTERN = /^[a-zA-Z0-9/_|\-=+]{1,1024}$/;

export interface ObjectRef<T extends ResourceType = ResourceType> {
  type: T;
  id: string;
}

export function parseObjectRef(value: string): ObjectRef | { error: string } {
  const colon = value.indexOf(':');
  if (colon <= 0) return { error: 'must be written type:id' };
  const type = value.slice(0, colon);
  const id = value.slice(colon + 1);
  if (!isResourceType(type)) return { error: `has unknown resource type "${type}"` };
  if (!ID_PATTERN.test(id)) return { error: `has an invalid id (must match ${ID_PATTERN.source})` };
  return { type, id };
}

export const formatRef = (ref: ObjectRef): string => `${ref.type}:${ref.id}`;
