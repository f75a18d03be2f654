import { createPublicKey } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/app.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import { appRouter } from '../../src/trpc/routers/_app.js';
import { createCallerFactory } from '../../src/trpc/trpc.js';
import { testEnv } from '../support/app.js';
import { freshSpiceDb } from '../support/spicedb.js';
import { TEST_JWT_SECRET, tokenFor } from '../../testkit/tokens.js';

const createCaller = createCallerFactory(appRouter);
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'authz-service';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  pair: KeyPair;
  publicJwk: JWK;
}

async function makeKey(kid: string, alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, pair, publicJwk };
}

/** A JWKS endpoint on 127.0.0.1 whose key set the test swaps (rotation) or takes down. */
async function startJwksServer(keys: SigningKey[]) {
  const state = { keys, fetches: 0, down: false };
  const server = http.createServer((req, res) => {
    state.fetches += 1;
    if (state.down) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: state.keys.map((k) => k.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Claims {
  sub?: string;
  iss?: string;
  aud?: string;
  exp?: number | string | null;
  nbf?: number;
  header?: Record<string, unknown>;
}

function sign(key: SigningKey, claims: Claims = {}): Promise<string> {
  return tokenFor(claims.sub ?? 'jwks-user', {
    key: key.pair.privateKey,
    alg: key.alg,
    header: { kid: key.kid, ...claims.header },
    issuer: claims.iss ?? ISSUER,
    audience: claims.aud ?? AUDIENCE,
    expiresIn: claims.exp === undefined ? '10m' : claims.exp,
    ...(claims.nbf !== undefined ? { notBefore: claims.nbf } : {}),
  });
}

/** HS256 "signed" with public key material as the secret: the algorithm confusion attack. */
const confused = (secret: string | Uint8Array, kid = 'rsa-1') =>
  tokenFor('jwks-user', {
    ...(typeof secret === 'string' ? { secret } : { key: secret }),
    header: { kid },
    issuer: ISSUER,
    audience: AUDIENCE,
    expiresIn: '10m',
  });

const b64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

describe('JWKS verification against a local key server', () => {
  let connection: SpiceDbConnection;
  beforeAll(async () => {
    connection = await freshSpiceDb();
  });
  afterAll(() => connection.close());

  function callerFor(
    jwksUrl: string,
    token: string,
    extra: Record<string, string> = {},
  ): ReturnType<typeof createCaller> {
    const services = createServices(
      testEnv({
        AUTH_JWT_SECRET: '',
        AUTH_JWKS_URL: jwksUrl,
        AUTH_JWT_ISSUER: ISSUER,
        AUTH_JWT_AUDIENCE: AUDIENCE,
        ...extra,
      }),
      connection,
    );
    return createCaller({ ...services, authorization: `Bearer ${token}`, requestId: 'jwks' });
  }

  /** Resolves with `allowed` for an accepted token; rejects with the tRPC error otherwise. */
  const ownProfile = (caller: ReturnType<typeof createCaller>, userId = 'jwks-user') =>
    caller.authz.check({ resource: `user:${userId}`, permission: 'view_profile' });

  describe('one verifier, one key set', () => {
    let rsa: SigningKey;
    let ec: SigningKey;
    let stranger: SigningKey;
    let jwks: Awaited<ReturnType<typeof startJwksServer>>;
    let services: ReturnType<typeof createServices>;
    const as = (token: string) =>
      createCaller({ ...services, authorization: `Bearer ${token}`, requestId: 'jwks' });

    beforeAll(async () => {
      rsa = await makeKey('rsa-1', 'RS256');
      ec = await makeKey('ec-1', 'ES256');
      stranger = await makeKey('rsa-1', 'RS256');
      jwks = await startJwksServer([rsa, ec]);
      services = createServices(
        testEnv({
          AUTH_JWT_SECRET: '',
          AUTH_JWKS_URL: jwks.url,
          AUTH_JWT_ISSUER: ISSUER,
          AUTH_JWT_AUDIENCE: AUDIENCE,
        }),
        connection,
      );
    });
    afterAll(() => jwks.close());

    it('accepts RS256 and ES256 tokens signed by keys of the set', async () => {
      await expect(ownProfile(as(await sign(rsa)))).resolves.toMatchObject({ allowed: true });
      await expect(ownProfile(as(await sign(ec)))).resolves.toMatchObject({ allowed: true });
    });

    const refusals: Array<[string, () => Promise<string>]> = [
      [
        'alg: none',
        () =>
          Promise.resolve(
            `${b64url(JSON.stringify({ alg: 'none', kid: 'rsa-1' }))}.${b64url(
              JSON.stringify({
                sub: 'jwks-user',
                iss: ISSUER,
                aud: AUDIENCE,
                exp: Math.floor(Date.now() / 1000) + 600,
              }),
            )}.`,
          ),
      ],
      [
        'HS256 signed with the public key as PEM (algorithm confusion)',
        async () => {
          const pem = await exportSPKI(rsa.pair.publicKey);
          return confused(pem);
        },
      ],
      [
        'HS256 signed with the public JWK as the secret',
        () => confused(JSON.stringify(rsa.publicJwk)),
      ],
      ['a kid of the set but a foreign key', () => sign(stranger)],
      ['an unknown kid', () => sign({ ...stranger, kid: 'nobody' })],
      ['a kid that is a path', () => sign({ ...stranger, kid: '../../etc/passwd' })],
      [
        'a jku header pointing at another key set',
        () => sign(stranger, { header: { jku: 'http://127.0.0.1:1/evil.json', kid: 'evil' } }),
      ],
      ['the wrong issuer', () => sign(rsa, { iss: 'https://evil.test' })],
      ['the wrong audience', () => sign(rsa, { aud: 'another-service' })],
      ['an expired token', () => sign(rsa, { exp: Math.floor(Date.now() / 1000) - 60 })],
      ['a token not valid yet', () => sign(rsa, { nbf: Math.floor(Date.now() / 1000) + 3600 })],
      ['a sub that is not a valid id', () => sign(rsa, { sub: 'user:*' })],
      [
        'a tampered payload',
        async () => {
          const [header, , signature] = (await sign(rsa)).split('.');
          const payload = b64url(
            JSON.stringify({ sub: 'admin', iss: ISSUER, aud: AUDIENCE, exp: 9_999_999_999 }),
          );
          return `${header}.${payload}.${signature}`;
        },
      ],
      [
        'a token signed with the HS256 test secret',
        () => tokenFor('jwks-user', { issuer: ISSUER, audience: AUDIENCE, expiresIn: '10m' }),
      ],
    ];

    it.each(refusals)('refuses %s with UNAUTHORIZED', async (_, makeToken) => {
      await expect(ownProfile(as(await makeToken()))).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
    });

    it('does not let unknown kids make it fetch the key set on every request', async () => {
      const before = jwks.state.fetches;
      for (let i = 0; i < 50; i += 1) {
        await expect(
          ownProfile(as(await sign({ ...stranger, kid: `spray-${i}` }))),
        ).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      }
      expect(jwks.state.fetches - before).toBeLessThanOrEqual(1);
    });
  });

  it('refuses the public key as an HS256 secret when a shared secret is configured too', async () => {
    const rsa = await makeKey('rsa-both', 'RS256');
    const jwks = await startJwksServer([rsa]);
    try {
      const pem = await exportSPKI(rsa.pair.publicKey);
      const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
      for (const secret of [new TextEncoder().encode(pem), new Uint8Array(der)]) {
        const forged = await confused(secret, 'rsa-both');
        await expect(
          ownProfile(callerFor(jwks.url, forged, { AUTH_JWT_SECRET: TEST_JWT_SECRET })),
        ).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      }
      await expect(
        ownProfile(callerFor(jwks.url, await sign(rsa), { AUTH_JWT_SECRET: TEST_JWT_SECRET })),
      ).resolves.toMatchObject({ allowed: true });
    } finally {
      await jwks.close();
    }
  });

  it('refuses a token without expiry when AUTH_JWT_REQUIRE_EXP is on (the production default)', async () => {
    const key = await makeKey('no-exp', 'RS256');
    const jwks = await startJwksServer([key]);
    try {
      const token = await sign(key, { exp: null });
      await expect(
        ownProfile(callerFor(jwks.url, token, { AUTH_JWT_REQUIRE_EXP: 'true' })),
      ).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    } finally {
      await jwks.close();
    }
  });

  it('after a key rotation refuses old-kid tokens and accepts new ones', async () => {
    const old = await makeKey('2026-old', 'RS256');
    const next = await makeKey('2026-new', 'ES256');
    const jwks = await startJwksServer([old]);
    try {
      const services = createServices(
        testEnv({
          AUTH_JWT_SECRET: '',
          AUTH_JWKS_URL: jwks.url,
          AUTH_JWT_ISSUER: ISSUER,
          AUTH_JWT_AUDIENCE: AUDIENCE,
          AUTH_JWKS_COOLDOWN_MS: '100',
        }),
        connection,
      );
      const as = (token: string) =>
        createCaller({ ...services, authorization: `Bearer ${token}`, requestId: 'rotation' });
      const oldToken = await sign(old);
      await expect(ownProfile(as(oldToken))).resolves.toMatchObject({ allowed: true });

      jwks.state.keys = [next];
      await new Promise((resolve) => setTimeout(resolve, 150));
      // The new kid is unknown to the cached set: the verifier fetches the rotated set.
      await expect(ownProfile(as(await sign(next)))).resolves.toMatchObject({ allowed: true });
      await expect(ownProfile(as(oldToken))).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      await expect(ownProfile(as(await sign(old)))).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
    } finally {
      await jwks.close();
    }
  });

  it('stops trusting a removed key once the cached key set expires, even with no new kid seen', async () => {
    const old = await makeKey('expiring', 'RS256');
    const next = await makeKey('replacement', 'RS256');
    const jwks = await startJwksServer([old]);
    try {
      const token = await sign(old);
      const extra = { AUTH_JWKS_CACHE_MAX_AGE_MS: '300', AUTH_JWKS_COOLDOWN_MS: '0' };
      const services = createServices(
        testEnv({
          AUTH_JWT_SECRET: '',
          AUTH_JWKS_URL: jwks.url,
          AUTH_JWT_ISSUER: ISSUER,
          AUTH_JWT_AUDIENCE: AUDIENCE,
          ...extra,
        }),
        connection,
      );
      const caller = createCaller({
        ...services,
        authorization: `Bearer ${token}`,
        requestId: 'x',
      });
      await expect(ownProfile(caller)).resolves.toMatchObject({ allowed: true });
      jwks.state.keys = [next];
      await new Promise((resolve) => setTimeout(resolve, 400));
      await expect(ownProfile(caller)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    } finally {
      await jwks.close();
    }
  });

  it('fails closed with UNAUTHORIZED while the key server is down', async () => {
    const key = await makeKey('down-1', 'RS256');
    const jwks = await startJwksServer([key]);
    try {
      jwks.state.down = true;
      await expect(ownProfile(callerFor(jwks.url, await sign(key)))).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
      jwks.state.down = false;
      await expect(ownProfile(callerFor(jwks.url, await sign(key)))).resolves.toMatchObject({
        allowed: true,
      });
    } finally {
      await jwks.close();
    }
  });
});
