import type { AuthzClient } from '../client.js';
import type { ServiceTarget } from './contexts.js';
import { CliFailure, UsageError } from './io.js';

const NEXT_STEP_UNREACHABLE =
  'is the service running there? Start it with `npm start`, or point the CLI at it: `authz context set NAME --url URL --token JWT` (or --url, AUTHZ_URL)';
const NEXT_STEP_TOKEN =
  'pass --token, set AUTHZ_TOKEN, or save one: `authz context set NAME --url URL --token JWT`; in development `authz token USER` mints one';

/**
 * The reason of a network failure (ECONNREFUSED, ENOTFOUND, bad port...), when `error` is one:
 * fetch throws "fetch failed" and hides the reason in its `cause` chain.
 */
function networkCause(error: unknown): string | undefined {
  const chain: Error[] = [];
  for (let current = error; current instanceof Error && chain.length < 6;) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  if (!chain.some((e) => e.message === 'fetch failed' || e.name === 'AbortError')) return undefined;
  const innermost = chain.at(-1)!;
  const code = (innermost as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : innermost.message;
}

/** Turns any failure of a call to the service into a message naming the URL and what to do. */
export function serviceFailure(error: unknown, target: ServiceTarget): Error {
  if (error instanceof CliFailure || error instanceof UsageError) return error;
  const data = (error as { data?: { code?: unknown; httpStatus?: unknown } }).data;
  const code = typeof data?.code === 'string' ? data.code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (code === undefined) {
    const cause = networkCause(error);
    if (cause !== undefined) {
      return new CliFailure(
        `cannot reach the service at ${target.url} (${cause})`,
        'UNREACHABLE',
        NEXT_STEP_UNREACHABLE,
      );
    }
    return new CliFailure(`the service at ${target.url} failed: ${message}`, 'FAILED');
  }
  if (code === 'UNAUTHORIZED') {
    return new CliFailure(
      `the service at ${target.url} refused the token (${target.source}): ${message}`,
      code,
      NEXT_STEP_TOKEN,
    );
  }
  return new CliFailure(message, code);
}

/** DEVELOPMENT: a token from the service's POST /dev/token. */
export async function mintDevToken(
  url: string,
  userId: string,
  backend: boolean,
  target: ServiceTarget = { url, source: 'arguments' },
): Promise<string> {
  let response: Response;
  try {
    response = await fetch(`${url}/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId, ...(backend ? { backend: true } : {}) }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw serviceFailure(error, target);
  }
  if (response.status === 404) {
    throw new CliFailure(
      `${url} mints no development tokens (POST /dev/token answered 404)`,
      'NOT_FOUND',
      'it does only in development, without AUTH_JWT_SECRET or AUTH_JWKS_URL: use a real token (--token, AUTHZ_TOKEN)',
    );
  }
  const body = (await response.json().catch(() => ({}))) as { token?: string; error?: string };
  if (!response.ok || typeof body.token !== 'string') {
    throw new CliFailure(`POST ${url}/dev/token: ${body.error ?? `HTTP ${response.status}`}`);
  }
  return body.token;
}

/** The typed client for `target`, with the caller's token (minted first for a dev context). */
export async function serviceClient(target: ServiceTarget): Promise<AuthzClient> {
  let token = target.token;
  if (token === undefined && target.devUser !== undefined) {
    token = await mintDevToken(target.url, target.devUser, target.backend === true, target);
  }
  if (token === undefined) {
    throw new UsageError(`no caller token for ${target.url}: ${NEXT_STEP_TOKEN}`);
  }
  const { createAuthzClient } = await import('../client.js');
  const bearer = token;
  return createAuthzClient({ url: target.url, getToken: () => bearer });
}
