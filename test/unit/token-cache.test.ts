import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AuthError, createTokenVerifier } from '../../src/trpc/auth.js';
import { VerifiedTokenCache } from '../../src/trpc/token-cache.js';

describe('VerifiedTokenCache', () => {
  it('never answers past the token exp, nor past its TTL', () => {
    let now = 1_000_000;
    const cache = new VerifiedTokenCache<string>({ ttlMs: 30_000, now: () => now });
    cache.set('soon', 'a', (now + 5_000) / 1000);
    cache.set('later', 'b', (now + 3_600_000) / 1000);
    cache.set('forever', 'c', undefined);
    now += 4_999;
    expect(cache.get('soon')).toBe('a');
    now += 1;
    expect(cache.get('soon')).toBeUndefined();
    now += 24_999;
    expect([cache.get('later'), cache.get('forever')]).toEqual(['b', 'c']);
    now += 1;
    expect([cache.get('later'), cache.get('forever')]).toEqual([undefined, undefined]);
  });

  it('does not keep an already expired token', () => {
    const cache = new VerifiedTokenCache<string>({ now: () => 10_000 });
    cache.set('expired', 'x', 10);
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries, dropping the oldest', () => {
    const cache = new VerifiedTokenCache<number>({ maxEntries: 3, now: () => 0 });
    for (let i = 0; i < 5; i += 1) cache.set(`t${i}`, i, undefined);
    expect(cache.size).toBe(3);
    expect([cache.get('t0'), cache.get('t1'), cache.get('t4')]).toEqual([undefined, undefined, 4]);
  });

  it('is off with 0 entries or a TTL of 0', () => {
    const none = new VerifiedTokenCache<number>({ maxEntries: 0 });
    none.set('t', 1, undefined);
    const instant = new VerifiedTokenCache<number>({ ttlMs: 0 });
    instant.set('t', 1, undefined);
    expect([none.get('t'), instant.get('t')]).toEqual([undefined, undefined]);
  });
});

describe('createTokenVerifier with its cache', () => {
  const SECRET = 'cache-test-secret-cache-test-secret';
  const key = new TextEncoder().encode(SECRET);

  it('refuses a cached token once its exp has passed', async () => {
    const verify = createTokenVerifier({ secret: SECRET });
    const exp = Math.floor(Date.now() / 1000) + 1;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime(exp)
      .sign(key);
    await expect(verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: 'alice' });
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
    await expect(verify(`Bearer ${token}`)).rejects.toThrow(/expired/);
  });

  it('caches only verified tokens: a forged one is refused every time', async () => {
    const verify = createTokenVerifier({ secret: SECRET });
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-secret-not-the-secret-xx'));
    for (let i = 0; i < 3; i += 1) {
      await expect(verify(`Bearer ${forged}`)).rejects.toBeInstanceOf(AuthError);
    }
  });
});
