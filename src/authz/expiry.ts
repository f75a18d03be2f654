import { z } from 'zod';

/**
 * `expiresAt`: an RFC 3339 instant in the future, when SpiceDB stops counting the relationship.
 * Normalized to UTC, as SpiceDB gives it back in listings.
 */
export const expiresAtSchema = z.iso
  .datetime({
    offset: true,
    error: 'expiresAt must be an RFC 3339 time such as 2030-01-31T12:00:00Z',
  })
  .refine((value) => Date.parse(value) > Date.now(), {
    error: 'expiresAt must be in the future',
  })
  .transform((value) => new Date(Date.parse(value)).toISOString());
