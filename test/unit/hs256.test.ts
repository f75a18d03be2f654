import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { Hs256Refusal, verifyHs256 } from '../../src/trpc/hs256.js';

const SECRET = new TextEncoder().encode('hs256-unit-secret-hs256-unit-secret');
const OTHER = new TextEncoder().encode('another-secret-another-secret-xx');
const NOW = Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

interface Case {
  label: string;
  token: () => Promise<string>;
  rules?: { issuer?: string; audience?: string; requireExpiry?: boolean };
}

const signed = (claims: Record<string, unknown>, key = SECRET, header: object = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(key);

const cases: Case[] = [
  { label: 'a valid token', token: () => signed({ sub: 'alice', exp: NOW + 600 }) },
  { label: 'no exp', token: () => signed({ sub: 'alice' }) },
  {
    label: 'no exp when one is required',
    token: () => signed({ sub: 'alice' }),
    rules: { requireExpiry: true },
  },
  { label: 'an expired token', token: () => signed({ sub: 'alice', exp: NOW - 5 }) },
  { label: 'exp equal to now', token: () => signed({ sub: 'alice', exp: NOW }) },
  { label: 'exp as a string', token: () => signed({ sub: 'alice', exp: String(NOW + 600) }) },
  { label: 'nbf in the future', token: () => signed({ sub: 'alice', nbf: NOW + 600 }) },
  { label: 'nbf in the past', token: () => signed({ sub: 'alice', nbf: NOW - 600 }) },
  { label: 'iat as a string', token: () => signed({ sub: 'alice', iat: 'yesterday' }) },
  { label: 'a forged signature', token: () => signed({ sub: 'alice', exp: NOW + 600 }, OTHER) },
  {
    label: 'a tampered payload',
    token: async () => {
      const [header, , signature] = (await signed({ sub: 'alice', exp: NOW + 600 })).split('.');
      return `${header}.${b64({ sub: 'admin', exp: NOW + 600 })}.${signature}`;
    },
  },
  {
    label: 'a truncated signature',
    token: async () => (await signed({ sub: 'alice', exp: NOW + 600 })).slice(0, -4),
  },
  {
    label: 'the right issuer and audience',
    token: () => signed({ sub: 'alice', iss: 'idp', aud: ['x', 'authz'], exp: NOW + 600 }),
    rules: { issuer: 'idp', audience: 'authz' },
  },
  {
    label: 'a wrong issuer',
    token: () => signed({ sub: 'alice', iss: 'evil', aud: 'authz', exp: NOW + 600 }),
    rules: { issuer: 'idp', audience: 'authz' },
  },
  {
    label: 'a wrong audience',
    token: () => signed({ sub: 'alice', iss: 'idp', aud: 'other', exp: NOW + 600 }),
    rules: { issuer: 'idp', audience: 'authz' },
  },
  {
    label: 'a missing audience',
    token: () => signed({ sub: 'alice', iss: 'idp', exp: NOW + 600 }),
    rules: { issuer: 'idp', audience: 'authz' },
  },
];

/** jose's verdict: the payload, or the error code it refuses with. */
async function joseVerdict(token: string, rules: Case['rules'] = {}) {
  try {
    const { payload } = await jwtVerify(token, SECRET, {
      algorithms: ['HS256'],
      ...(rules.issuer ? { issuer: rules.issuer } : {}),
      ...(rules.audience ? { audience: rules.audience } : {}),
      ...(rules.requireExpiry ? { requiredClaims: ['exp'] } : {}),
    });
    return { payload };
  } catch (error) {
    return { code: (error as joseErrors.JOSEError).code };
  }
}

function syncVerdict(token: string, rules: Case['rules'] = {}) {
  try {
    const payload = verifyHs256(token, SECRET, rules);
    return payload === undefined ? { deferred: true } : { payload };
  } catch (error) {
    expect(error).toBeInstanceOf(Hs256Refusal);
    return { code: (error as Hs256Refusal).code };
  }
}

describe('verifyHs256 (synchronous HMAC) against jose', () => {
  it.each(cases)('agrees with jwtVerify on $label', async ({ token, rules }) => {
    const compact = await token();
    expect(syncVerdict(compact, rules)).toEqual(await joseVerdict(compact, rules));
  });

  it('leaves tokens it does not handle like jose to jose', async () => {
    const crit = await signed({ sub: 'alice' }, SECRET, { crit: ['exp'] }).catch(() =>
      Promise.resolve(`${b64({ alg: 'HS256', crit: ['x'] })}.${b64({ sub: 'a' })}.c2ln`),
    );
    expect(verifyHs256(crit, SECRET, {})).toBeUndefined();
    expect(
      verifyHs256(`${b64({ alg: 'none' })}.${b64({ sub: 'a' })}.`, SECRET, {}),
    ).toBeUndefined();
    expect(verifyHs256('a.b', SECRET, {})).toBeUndefined();
    expect(verifyHs256(`${b64([1])}.${b64({})}.x`, SECRET, {})).toBeUndefined();
  });
});
