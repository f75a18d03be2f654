import { describe, expect, it } from 'vitest';
import { AuthError, BACKEND_SCOPE, createTokenVerifier } from '../../src/trpc/auth.js';
import { tokenFor } from '../../testkit/tokens.js';

const SECRET = 'unit-test-secret-unit-test-secret';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const sign = (claims: Record<string, unknown>, sub?: string, alg = 'HS256') =>
  tokenFor(sub, { secret: SECRET, claims, alg });

describe('createTokenVerifier (HS256 secret)', () => {
  const verify = createTokenVerifier({ secret: SECRET });

  it('returns the caller with their scopes', async () => {
    const caller = await verify(
      `Bearer ${await sign({ scope: `openid ${BACKEND_SCOPE}` }, 'alice')}`,
    );
    expect(caller.userId).toBe('alice');
    expect([...caller.scopes].sort()).toEqual([BACKEND_SCOPE, 'openid']);
    const plain = await verify(`bearer ${await sign({}, 'bob')}`);
    expect(plain).toMatchObject({ userId: 'bob' });
    expect(plain.scopes.size).toBe(0);
  });

  it('ignores a scope that is not a space-separated string', async () => {
    const caller = await verify(`Bearer ${await sign({ scope: [BACKEND_SCOPE] }, 'alice')}`);
    expect(caller.scopes.has(BACKEND_SCOPE)).toBe(false);
  });

  it.each([
    ['no header', () => Promise.resolve(undefined)],
    ['another scheme', async () => `Token ${await sign({}, 'alice')}`],
    [
      'a forged signature',
      async () => `Bearer ${await tokenFor('alice', { secret: 'another-secret' })}`,
    ],
    [
      'an expired token',
      async () => `Bearer ${await tokenFor('alice', { secret: SECRET, expiresIn: now() - 10 })}`,
    ],
    [
      'alg none',
      () =>
        Promise.resolve(
          `Bearer ${b64({ alg: 'none' })}.${b64({ sub: 'alice', exp: now() + 60 })}.`,
        ),
    ],
    ['HS384', async () => `Bearer ${await sign({}, 'alice', 'HS384')}`],
    ['a missing sub', async () => `Bearer ${await sign({})}`],
    ['a sub with a wildcard', async () => `Bearer ${await sign({}, 'a*b')}`],
    ['a sub of type:id form', async () => `Bearer ${await sign({}, 'user:alice')}`],
    [
      'a header that is not JSON',
      () => Promise.resolve(`Bearer ${Buffer.from('{nope').toString('base64url')}.${b64({})}.sig`),
    ],
  ])('refuses %s with an AuthError', async (_label, header) => {
    await expect(verify(await header())).rejects.toBeInstanceOf(AuthError);
  });

  it('refuses RS256 when only a secret is configured', async () => {
    const forged = `Bearer ${b64({ alg: 'RS256' })}.${b64({ sub: 'alice', exp: now() + 60 })}.c2ln`;
    await expect(verify(forged)).rejects.toThrow(/RS256/);
  });

  it('checks issuer and audience when configured', async () => {
    const strict = createTokenVerifier({ secret: SECRET, issuer: 'idp', audience: 'authz' });
    const good = await tokenFor('alice', { secret: SECRET, issuer: 'idp', audience: 'authz' });
    await expect(strict(`Bearer ${good}`)).resolves.toMatchObject({ userId: 'alice' });
    await expect(strict(`Bearer ${await sign({}, 'alice')}`)).rejects.toBeInstanceOf(AuthError);
  });

  it('requires an expiry only when asked to', async () => {
    const noExp = await tokenFor('alice', { secret: SECRET, expiresIn: null });
    await expect(verify(`Bearer ${noExp}`)).resolves.toMatchObject({ userId: 'alice' });
    const strict = createTokenVerifier({ secret: SECRET, requireExpiry: true });
    await expect(strict(`Bearer ${noExp}`)).rejects.toBeInstanceOf(AuthError);
  });
});
