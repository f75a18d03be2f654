import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HS256 compact JWS verification on the calling thread. jose's `jwtVerify` goes through
 * WebCrypto, which hands every HMAC to libuv's thread pool and back (a round trip that cost as
 * much as the rest of a cached check); an HMAC-SHA256 over a few hundred bytes is microseconds.
 *
 * It returns the payload when the signature holds, and throws `Hs256Refusal` with jose's error
 * code otherwise. Tokens it does not handle exactly like jose (a `crit` or `b64` header, a header
 * or payload that is not a JSON object) come back as `undefined`: the caller asks jose then.
 */
export class Hs256Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'Hs256Refusal';
  }
}

export interface ClaimRules {
  issuer?: string | undefined;
  audience?: string | undefined;
  requireExpiry?: boolean | undefined;
}

function decodeJsonObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The claim checks jose's validateClaimsSet makes, in its order, with its error codes. */
export function validateClaims(
  payload: Record<string, unknown>,
  rules: ClaimRules,
  nowSeconds: number,
): void {
  const required = [
    ...(rules.issuer !== undefined ? ['iss'] : []),
    ...(rules.audience !== undefined ? ['aud'] : []),
    ...(rules.requireExpiry ? ['exp'] : []),
  ];
  for (const claim of required) {
    if (!Object.hasOwn(payload, claim)) {
      throw new Hs256Refusal(
        'ERR_JWT_CLAIM_VALIDATION_FAILED',
        `missing required "${claim}" claim`,
      );
    }
  }
  if (rules.issuer !== undefined && payload.iss !== rules.issuer) {
    throw new Hs256Refusal('ERR_JWT_CLAIM_VALIDATION_FAILED', 'unexpected "iss" claim value');
  }
  if (rules.audience !== undefined) {
    const aud = payload.aud;
    const matches =
      typeof aud === 'string'
        ? aud === rules.audience
        : Array.isArray(aud) && aud.includes(rules.audience);
    if (!matches) {
      throw new Hs256Refusal('ERR_JWT_CLAIM_VALIDATION_FAILED', 'unexpected "aud" claim value');
    }
  }
  const numeric = (claim: 'iat' | 'nbf' | 'exp'): number | undefined => {
    const value = payload[claim];
    if (value === undefined) return undefined;
    if (typeof value !== 'number') {
      throw new Hs256Refusal(
        'ERR_JWT_CLAIM_VALIDATION_FAILED',
        `"${claim}" claim must be a number`,
      );
    }
    return value;
  };
  numeric('iat');
  const nbf = numeric('nbf');
  if (nbf !== undefined && nbf > nowSeconds) {
    throw new Hs256Refusal('ERR_JWT_CLAIM_VALIDATION_FAILED', '"nbf" claim timestamp check failed');
  }
  const exp = numeric('exp');
  if (exp !== undefined && exp <= nowSeconds) {
    throw new Hs256Refusal('ERR_JWT_EXPIRED', '"exp" claim timestamp check failed');
  }
}

export function verifyHs256(
  token: string,
  secret: Uint8Array,
  rules: ClaimRules,
  nowSeconds = Math.floor(Date.now() / 1000),
): Record<string, unknown> | undefined {
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot <= 0 || secondDot < 0 || token.indexOf('.', secondDot + 1) !== -1) return undefined;
  const header = decodeJsonObject(token.slice(0, firstDot));
  if (header === undefined || header.alg !== 'HS256') return undefined;
  if ('crit' in header || 'b64' in header) return undefined;
  const expected = createHmac('sha256', secret).update(token.slice(0, secondDot)).digest();
  const signature = Buffer.from(token.slice(secondDot + 1), 'base64url');
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
    throw new Hs256Refusal(
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      'signature verification failed',
    );
  }
  const payload = decodeJsonObject(token.slice(firstDot + 1, secondDot));
  if (payload === undefined) return undefined;
  validateClaims(payload, rules, nowSeconds);
  return payload;
}
