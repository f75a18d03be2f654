import { BACKEND_SCOPE_CLAIM } from './vocabulary.js';

const TOKEN_KEY = 'authz-explorer-token';

export interface Session {
  token: string;
  userId: string;
  backend: boolean;
}

/** The JWT's claims, read only to show who is signed in; the service verifies the token. */
function claimsOf(jwt: string): { sub?: string; scope?: string } {
  const payload = jwt.split('.')[1];
  if (payload === undefined) return {};
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    return JSON.parse(json) as { sub?: string; scope?: string };
  } catch {
    return {};
  }
}

export function sessionOf(jwt: string): Session | undefined {
  const claims = claimsOf(jwt);
  if (typeof claims.sub !== 'string' || claims.sub === '') return undefined;
  const backend = claims.scope?.split(' ').includes(BACKEND_SCOPE_CLAIM) ?? false;
  return { token: jwt, userId: claims.sub, backend };
}

/** The tab's session survives a reload (sessionStorage), never another tab or a restart. */
export const storedToken = (): string | undefined => sessionStorage.getItem(TOKEN_KEY) ?? undefined;
export const storeToken = (jwt: string) => sessionStorage.setItem(TOKEN_KEY, jwt);
export const forgetToken = () => sessionStorage.removeItem(TOKEN_KEY);

/** POST /dev/token exists only outside production: a 400 to an empty body says it is there. */
export async function devTokensOffered(): Promise<boolean> {
  const probe = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  }).catch(() => undefined);
  return probe?.status === 400;
}

export async function mintDevToken(
  userId: string,
  backend: boolean,
): Promise<{ token: string } | { error: string }> {
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, backend }),
  });
  const body = (await response.json()) as { token?: string; error?: string };
  return body.token !== undefined
    ? { token: body.token }
    : { error: body.error ?? `HTTP ${response.status}` };
}
