import { SignJWT } from 'jose';

export const TEST_JWT_SECRET = 'test-secret-for-the-authz-service-suite';

export async function tokenFor(
  sub: string,
  options: { scope?: string; secret?: string; expiresIn?: string | number } = {},
): Promise<string> {
  const claims = options.scope ? { scope: options.scope } : {};
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}
