import { z } from 'zod';
import { ID_PATTERN, parseObjectRef } from './object-ref.js';

export { formatRef, ID_PATTERN, parseObjectRef, type ObjectRef } from './object-ref.js';

export const idSchema = (field: string) =>
  z
    .string({ error: `${field} must be a string` })
    .regex(ID_PATTERN, `${field} must match ${ID_PATTERN.source}`);

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
