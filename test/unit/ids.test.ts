import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ID_PATTERN, idSchema, objectRefSchema, parseObjectRef } from '../../src/authz/ids.js';

const ALLOWED = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_|-=+';
const validId = fc
  .array(fc.constantFrom(...ALLOWED.split('')), { minLength: 1, maxLength: 64 })
  .map((chars) => chars.join(''));

describe('ids', () => {
  it('accepts every id made of the allowed characters, up to 1024 of them', () => {
    fc.assert(fc.property(validId, (id) => ID_PATTERN.test(id)));
    expect(ID_PATTERN.test('x'.repeat(1024))).toBe(true);
    expect(ID_PATTERN.test('x'.repeat(1025))).toBe(false);
  });

  it('refuses any id holding a character outside the rule', () => {
    const outside = fc
      .string({ minLength: 1, maxLength: 1, unit: 'binary' })
      .filter((c) => !ALLOWED.includes(c));
    fc.assert(
      fc.property(validId, outside, validId, (before, bad, after) => {
        expect(ID_PATTERN.test(`${before}${bad}${after}`)).toBe(false);
      }),
    );
    for (const id of ['', '*', 'a*', 'al@ce', 'a.b', 'a#b', 'a:b', 'a b', 'ü', 'a\nb']) {
      expect(ID_PATTERN.test(id), JSON.stringify(id)).toBe(false);
    }
  });

  it('names the field in idSchema messages', () => {
    const result = idSchema('projectId').safeParse('a.b');
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain('projectId');
    expect(idSchema('projectId').safeParse(7).error?.issues[0]?.message).toContain('projectId');
  });

  it('parses type:id references and explains refusals', () => {
    expect(parseObjectRef('project:p1')).toEqual({ type: 'project', id: 'p1' });
    expect(parseObjectRef('user:a/b=c')).toEqual({ type: 'user', id: 'a/b=c' });
    expect(parseObjectRef('p1')).toEqual({ error: 'must be written type:id' });
    expect(parseObjectRef(':p1')).toEqual({ error: 'must be written type:id' });
    expect(parseObjectRef('team:p1')).toMatchObject({
      error: expect.stringContaining('team') as string,
    });
    expect(parseObjectRef('project:')).toMatchObject({
      error: expect.stringContaining('invalid id') as string,
    });
    expect(parseObjectRef('project:a:b')).toMatchObject({
      error: expect.stringContaining('invalid id') as string,
    });
    // Object.prototype names are no resource types.
    expect(parseObjectRef('constructor:x')).toMatchObject({ error: expect.any(String) as string });
    expect(parseObjectRef('__proto__:x')).toMatchObject({ error: expect.any(String) as string });
  });

  it('objectRefSchema reports the field', () => {
    const result = objectRefSchema('resource').safeParse('project:*');
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/^resource /);
  });
});
