import { describe, expect, it } from 'vitest';
import { DatastoreIdentity, decodeZedToken, zedTokenProblem } from '../../src/spicedb/zedtoken.js';

/** A v1 ZedToken as SpiceDB v1.56.2 encodes it (field 3: revision 1, datastore prefix 2). */
function zedToken(revision: string, prefix?: string): string {
  const field = (number: number, value: string) =>
    Buffer.concat([Buffer.from([(number << 3) | 2, value.length]), Buffer.from(value)]);
  const inner = Buffer.concat([field(1, revision), ...(prefix ? [field(2, prefix)] : [])]);
  return Buffer.concat([Buffer.from([(3 << 3) | 2, inner.length]), inner]).toString('base64');
}

describe('ZedTokens', () => {
  it('decodes a token the pinned SpiceDB issued (copied from a serve-testing write)', () => {
    expect(decodeZedToken('Gh8KEzE3OTYxNzI3NTQ0ODY2ODExMjcSCDg5OWM5NzM0')).toEqual({
      revision: '1796172754486681127',
      datastorePrefix: '899c9734',
    });
    expect(decodeZedToken(zedToken('42'))).toEqual({ revision: '42' });
  });

  it.each(['garbage', 'AAAA', '!!!', '', 'Zm9v', 'Gh8KEzE3OTYx', zedToken(''), 'a'.repeat(5000)])(
    'refuses %s as not a ZedToken',
    (token) => {
      expect(decodeZedToken(token)).toBeUndefined();
      expect(zedTokenProblem(token, undefined)).toMatch(/^consistency\.atLeastAsFresh/);
    },
  );

  it('refuses a token of another datastore, and accepts its own or one without a prefix', () => {
    expect(zedTokenProblem(zedToken('7', 'aaaaaaaa'), 'bbbbbbbb')).toContain(
      'another SpiceDB datastore',
    );
    expect(zedTokenProblem(zedToken('7', 'bbbbbbbb'), 'bbbbbbbb')).toBeUndefined();
    expect(zedTokenProblem(zedToken('7'), 'bbbbbbbb')).toBeUndefined();
    expect(zedTokenProblem(zedToken('7', 'aaaaaaaa'), undefined)).toBeUndefined();
  });

  it('learns its datastore once, from an observed token or one fetch', async () => {
    let fetches = 0;
    const identity = new DatastoreIdentity(() => {
      fetches += 1;
      return Promise.resolve(zedToken('1', 'cafecafe'));
    });
    const [first, second] = await Promise.all([identity.prefix(), identity.prefix()]);
    expect([first, second, fetches]).toEqual(['cafecafe', 'cafecafe', 1]);
    const observed = new DatastoreIdentity(() => Promise.reject(new Error('not called')));
    observed.observe(zedToken('2', 'feedfeed'));
    expect(await observed.prefix()).toBe('feedfeed');
  });
});
