import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { ID_PATTERN } from '../authz/ids.js';

export interface Caller {
  userId: string;
  scopes: ReadonlySet<string>;
}

export const BACKEND_SCOPE = 'authz:check';

export interface VerifierOptions {
  secret?: string | undefined;
  jwksUrl?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
  /** How long fetched JWKS keys are trusted (a removed key is accepted at most this long). */
  jwksCacheMaxAgeMs?: number | undefined;
  /** The least time between two JWKS fetches (an unknown `kid` triggers a fetch). */
  jwksCooldownMs?: number | undefined;
  /** Refuse tokens that carry no `exp` claim. */
  requireExpiry?: boolean | undefined;
}

export class AuthError extends Error {
  override name = 'AuthError';
}

export type TokenVerifier = (authorization: string | undefined) => Promise<Caller>;

/** HS256 with the shared secret for development and tests; RS256/ES256 from a JWKS in production. */
export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl), {
        ...(options.jwksCacheMaxAgeMs !== undefined
          ? { cacheMaxAge: options.jwksCacheMaxAgeMs }
          : {}),
        ...(options.jwksCooldownMs !== undefined
          ? { cooldownDuration: options.jwksCooldownMs }
          : {}),
      })
    : undefined;
  const claims = {
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
    // A token without an expiry would be valid forever once leaked: production insists on one.
    ...(options.requireExpiry ? { requiredClaims: ['exp'] } : {}),
  };

  return async (authorization) => {
    const match = /^Bearer\s+([A-Za-z0-9\-_.]+)\s*$/i.exec(authorization ?? '');
    const token = match?.[1];
    if (token === undefined)
      throw new AuthError('missing or malformed Authorization: Bearer header');
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new AuthError('malformed token');
    }
    let payload: JWTPayload;
    try {
      if (alg === 'HS256' && secret !== undefined) {
        ({ payload } = await jwtVerify(token, secret, { ...claims, algorithms: ['HS256'] }));
      } else if (jwks !== undefined && (alg === 'RS256' || alg === 'ES256')) {
        ({ payload } = await jwtVerify(token, jwks, { ...claims, algorithms: ['RS256', 'ES256'] }));
      } else {
        throw new AuthError(`token algorithm ${String(alg)} is not accepted`);
      }
    } catch (error) {
      if (error instanceof AuthError) throw error;
      const reason =
        error instanceof joseErrors.JWTExpired
          ? 'token expired'
          : error instanceof joseErrors.JOSEError
            ? `invalid token (${error.code})`
            : 'invalid token';
      throw new AuthError(reason, { cause: error });
    }
    const sub = payload.sub;
    if (typeof sub !== 'string' || !ID_PATTERN.test(sub)) {
      throw new AuthError('token sub must be a valid user id');
    }
    const scope = (payload as { scope?: unknown }).scope;
    const scopes = new Set(typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);
    return { userId: sub, scopes };
  };
}
