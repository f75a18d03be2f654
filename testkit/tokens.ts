import { SignJWT, type JWTPayload } from 'jose';

/** The HS256 secret the suites' services are configured with. */
export const TEST_JWT_SECRET = 'test-secret-for-the-authz-service-suite';

type SigningKey = Parameters<SignJWT['sign']>[0];

export interface TokenOptions {
  /** The `scope` claim (space-separated), e.g. the backend scope. */
  scope?: string;
  /** The HS256 secret (the suites' by default). */
  secret?: string;
  /** Sign with this key instead of a secret (an asymmetric private key, or raw bytes). */
  key?: SigningKey;
  /** The JWS algorithm [HS256]. */
  alg?: string;
  /** More protected header fields (`kid`, `jku`, ...). */
  header?: Record<string, unknown>;
  /** `exp`: a duration like '1h' or seconds since the epoch [1h]; `null` leaves it out. */
  expiresIn?: string | number | null;
  /** `nbf`, seconds since the epoch. */
  notBefore?: number;
  issuer?: string;
  audience?: string;
  /** More claims, as they are (a deliberately malformed `sub`, say). */
  claims?: Record<string, unknown>;
}

/**
 * A caller token for `sub` (undefined: none) as the service's verifier reads them: the one
 * place tests, scripts and benchmarks mint tokens.
 */
export function tokenFor(sub: string | undefined, options: TokenOptions = {}): Promise<string> {
  const claims = {
    ...options.claims,
    ...(options.scope ? { scope: options.scope } : {}),
  } as JWTPayload;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', ...options.header })
    .setIssuedAt();
  if (sub !== undefined) jwt.setSubject(sub);
  if (options.expiresIn !== null) jwt.setExpirationTime(options.expiresIn ?? '1h');
  if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  const key = options.key ?? new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET);
  return jwt.sign(key);
}
