import { z } from 'zod';
import { isResourceType, type ResourceType } from './schema.js';

/** SpiceDB's object id rule without the wildcard. */
export const ID_PATTERN = /^[a-zA-Z0-9/_|\-=+]{1,1024}$/;

export const idSchema = (field: string) =>
  z
    .string({ error: `${field} must be a string` })
    .regex(ID_PATTERN, `${field} must match ${ID_PATTERN.source}`);

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

/** `type:id` with a known type and a valid id, parsed into an ObjectRef. */
export const objectRefSchema = (field: string) =>
  z.string({ error: `${field} must be a string "type:id"` }).transform((value, ctx) => {
    const parsed = parseObjectRef(value);
    if ('error' in parsed) {
      ctx.addIssue({ code: 'custom', message: `${field} ${parsed.error}` });
      return z.NEVER;
    }
    return parsed;
  });

export const formatRef = (ref: ObjectRef): string => `${ref.type}:${ref.id}`;
