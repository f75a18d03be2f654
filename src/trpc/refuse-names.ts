import { TRPCError } from '@trpc/server';

/** Inputs are small JSON: a bounded walk finds a `name` key wherever it is nested. */
const MAX_DEPTH = 8;

function carriesName(value: unknown, depth = 0): boolean {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some((item) => carriesName(item, depth + 1));
  return Object.entries(value).some(
    ([key, inner]) => key === 'name' || carriesName(inner, depth + 1),
  );
}

/**
 * Policy (CONTRACT): names are not authorization data; the platform's directory keeps display
 * names, so an input carrying `name` is refused rather than silently dropped.
 */
export async function refuseNames(getRawInput: () => Promise<unknown>): Promise<void> {
  const input = await getRawInput().catch(() => undefined);
  if (carriesName(input)) {
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message:
        'name is not accepted: the service keeps no display names (the platform directory does)',
    });
  }
}
