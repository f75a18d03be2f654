import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import { ID_PATTERN } from '../authz/ids.js';
import { Hs256Refusal, verifyHs256 } from './hs256.js';
import { VerifiedTokenCache } from './token-cache.js';

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
  /** Verified tokens remembered at most (0 turns the cache off). */
  tokenCacheEntries?: number | undefined;
  /** How long a verified token is trusted without verifying it again (never past its `exp`). */
  tokenCacheTtlMs?: number | undefined;
}

export class AuthError extends Error {
  override name = 'AuthError';
}

export type TokenVerifier = (authorization: string | undefined) => Promise<Caller>;

interface Verified {
  caller: Caller;
  /** Verified with a key of the JWKS: trusted only while that key set is fresh and unchanged. */
  viaJwks: boolean;
}

const BEARER = /^Bearer\s+([A-Za-z0-9\-_.]+)\s*$/i;

function reasonOf(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'token expired';
  if (error instanceof Hs256Refusal) {
    return error.code === 'ERR_JWT_EXPIRED' ? 'token expired' : `invalid token (${error.code})`;
  }
  if (error instanceof joseErrors.JOSEError) return `invalid token (${error.code})`;
  return 'invalid token';
}

function callerOf(payload: JWTPayload): Caller {
  const sub = payload.sub;
  if (typeof sub !== 'string' || !ID_PATTERN.test(sub)) {
    throw new AuthError('token sub must be a valid user id');
  }
  const scope = (payload as { scope?: unknown }).scope;
  const scopes = new Set(typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);
  return { userId: sub, scopes };
}

/**
 * HS256 with the shared secret for development and tests; RS256/ES256 from a JWKS in production.
 * Verified tokens are cached briefly (see token-cache.ts); refusals are not.
 */
export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
  const jwks = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl), {
        ...(options.jwksCacheMaxAgeMs !== undefined
          ? { cacheMaxAge: options.jwksCacheMaxAgeMs }
          : {}),
        ...(options.jwksCooldownMs !== undefined
          ? { cooldownDuration: options.jwksCooldownMs }
          : {}),
      })
    : undefined;
  const rules = {
    issuer: options.issuer || undefined,
    audience: options.audience || undefined,
    requireExpiry: options.requireExpiry,
  };
  const claims = {
    ...(rules.issuer ? { issuer: rules.issuer } : {}),
    ...(rules.audience ? { audience: rules.audience } : {}),
    // A token without an expiry would be valid forever once leaked: production insists on one.
    ...(options.requireExpiry ? { requiredClaims: ['exp'] } : {}),
  };
  const cache = new VerifiedTokenCache<Verified>({
    ...(options.tokenCacheEntries !== undefined ? { maxEntries: options.tokenCacheEntries } : {}),
    ...(options.tokenCacheTtlMs !== undefined ? { ttlMs: options.tokenCacheTtlMs } : {}),
  });
  // The key set last seen: a reload that changes it (rotation, a removed key) clears the cache.
  let keySetFingerprint: string | undefined;
  const noteKeySet = () => {
    if (jwks === undefined) return;
    const fingerprint = JSON.stringify(jwks.jwks() ?? null);
    if (fingerprint !== keySetFingerprint) {
      if (keySetFingerprint !== undefined) cache.clear();
      keySetFingerprint = fingerprint;
    }
  };

  const verifyUncached = async (token: string): Promise<Verified> => {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new AuthError('malformed token');
    }
    let payload: JWTPayload;
    let viaJwks = false;
    try {
      if (alg === 'HS256' && secret !== undefined) {
        payload =
          verifyHs256(token, secret, rules) ??
          (await jwtVerify(token, secret, { ...claims, algorithms: ['HS256'] })).payload;
      } else if (jwks !== undefined && (alg === 'RS256' || alg === 'ES256')) {
        viaJwks = true;
        try {
          ({ payload } = await jwtVerify(token, jwks, {
            ...claims,
            algorithms: ['RS256', 'ES256'],
          }));
        } finally {
          noteKeySet();
        }
      } else {
        throw new AuthError(`token algorithm ${String(alg)} is not accepted`);
      }
    } catch (error) {
      if (error instanceof AuthError) throw error;
      throw new AuthError(reasonOf(error), { cause: error });
    }
    const verified = { caller: callerOf(payload), viaJwks };
    cache.set(token, verified, typeof payload.exp === 'number' ? payload.exp : undefined);
    return verified;
  };

  return async (authorization) => {
    const token = BEARER.exec(authorization ?? '')?.[1];
    if (token === undefined) {
      throw new AuthError('missing or malformed Authorization: Bearer header');
    }
    const cached = cache.get(token);
    // A JWKS-verified entry is trusted only while the key set it was checked against is fresh.
    if (cached !== undefined && (!cached.viaJwks || jwks?.fresh === true)) return cached.caller;
    return (await verifyUncached(token)).caller;
  };
}
