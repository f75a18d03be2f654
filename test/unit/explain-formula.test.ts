import { describe, expect, it } from 'vitest';
import { formulaOf } from '../../src/authz/explain-formula.js';

/**
 * Expressions as SpiceDB v1.56.2's schema generator prints them (what the generated module
 * holds), with what SpiceDB compiled them from: `-` binds loosest, then `&`, then `+`.
 */
describe("explain's operators from the generated expressions", () => {
  it('reads `(a + b) & (c + p->x) & p.all(y)`, printed without its parentheses', () => {
    expect(formulaOf('ra1 + rb1 & rc1 + rp1->px1 & rp1.all(py1)')).toEqual({
      op: 'intersection',
      parts: [
        {
          op: 'union',
          parts: [
            { op: 'computed', name: 'ra1' },
            { op: 'computed', name: 'rb1' },
          ],
        },
        {
          op: 'union',
          parts: [
            { op: 'computed', name: 'rc1' },
            { op: 'arrow', tupleset: 'rp1', target: 'px1', all: false },
          ],
        },
        { op: 'arrow', tupleset: 'rp1', target: 'py1', all: true },
      ],
    });
  });

  it('reads exclusions left to right, and parentheses where the generator writes them', () => {
    const [a, b, c] = ['ra1', 'rb1', 'rc1'].map((name) => ({ op: 'computed', name }));
    // `aa - bb - cc` and `aa & bb - cc + aa` as SpiceDB prints them back.
    expect(formulaOf('(ra1 - rb1) - rc1')).toEqual({
      op: 'exclusion',
      base: { op: 'exclusion', base: a, minus: b },
      minus: c,
    });
    expect(formulaOf('(ra1 & rb1) - rc1 + ra1')).toEqual({
      op: 'exclusion',
      base: { op: 'intersection', parts: [a, b] },
      minus: { op: 'union', parts: [c, a] },
    });
    expect(formulaOf('viewer + parent->view - banned')).toMatchObject({
      op: 'exclusion',
      base: { op: 'union' },
      minus: { op: 'computed', name: 'banned' },
    });
  });

  it('reads self, nil and the arrow functions, and refuses text SpiceDB does not print', () => {
    expect(formulaOf('self')).toEqual({ op: 'self' });
    expect(formulaOf('nil')).toEqual({ op: 'nil' });
    expect(formulaOf('org.any(admin)')).toEqual({
      op: 'arrow',
      tupleset: 'org',
      target: 'admin',
      all: false,
    });
    expect(() => formulaOf('admin +')).toThrow();
    expect(() => formulaOf('(admin')).toThrow();
    expect(() => formulaOf('admin | member')).toThrow();
  });
});
