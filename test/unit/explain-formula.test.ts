import { describe, expect, it } from 'vitest';
import { permissionFormula } from '../../src/authz/explain-formula.js';
import { definitionsOf } from '../support/schema-definitions.js';

/**
 * explain's operators are the tree SpiceDB v1.56.2's compiler makes of each permission
 * (devvalidate `schema`, what the generated module holds), with the expression as SpiceDB's
 * generator prints it back beside it: `-` binds loosest, then `&`, then `+`.
 */
const DEFINITIONS = definitionsOf(`use self

definition user {
  permission myself = self
  permission nobody = nil
}

definition org {
  relation px1: user
  relation py1: user
  relation admin: user
}

definition doc {
  relation ra1: user
  relation rb1: user
  relation rc1: user
  relation rp1: org
  relation viewer: user
  relation banned: user
  relation parent: doc
  permission grouped = (ra1 + rb1) & (rc1 + rp1->px1) & rp1.all(py1)
  permission chain = ra1 - rb1 - rc1
  permission mixed = ra1 & rb1 - rc1 + ra1
  permission view = viewer + parent->view - banned
  permission any_admin = rp1.any(admin)
}
`);

const formula = (type: string, permission: string) =>
  permissionFormula(DEFINITIONS, type, permission);
const [a, b, c] = ['ra1', 'rb1', 'rc1'].map((name) => ({ op: 'computed', name }));

describe("explain's operators from SpiceDB's compiled tree", () => {
  it('reads `(a + b) & (c + p->x) & p.all(y)`, which SpiceDB prints without its parentheses', () => {
    expect(formula('doc', 'grouped')).toEqual({
      expression: 'ra1 + rb1 & rc1 + rp1->px1 & rp1.all(py1)',
      formula: {
        op: 'intersection',
        parts: [
          { op: 'union', parts: [a, b] },
          {
            op: 'union',
            parts: [c, { op: 'arrow', tupleset: 'rp1', target: 'px1', all: false }],
          },
          { op: 'arrow', tupleset: 'rp1', target: 'py1', all: true },
        ],
      },
    });
  });

  it('reads exclusions left to right, and what binds tighter than them', () => {
    expect(formula('doc', 'chain')).toEqual({
      expression: '(ra1 - rb1) - rc1',
      formula: { op: 'exclusion', base: { op: 'exclusion', base: a, minus: b }, minus: c },
    });
    expect(formula('doc', 'mixed')).toEqual({
      expression: '(ra1 & rb1) - rc1 + ra1',
      formula: {
        op: 'exclusion',
        base: { op: 'intersection', parts: [a, b] },
        minus: { op: 'union', parts: [c, a] },
      },
    });
    expect(formula('doc', 'view')?.formula).toMatchObject({
      op: 'exclusion',
      base: { op: 'union' },
      minus: { op: 'computed', name: 'banned' },
    });
  });

  it('reads self, nil and `.any`, and nothing for a relation or an unknown name', () => {
    expect(formula('user', 'myself')).toEqual({ expression: 'self', formula: { op: 'self' } });
    expect(formula('user', 'nobody')).toEqual({ expression: 'nil', formula: { op: 'nil' } });
    expect(formula('doc', 'any_admin')?.formula).toEqual({
      op: 'arrow',
      tupleset: 'rp1',
      target: 'admin',
      all: false,
    });
    expect(formula('doc', 'ra1')).toBeUndefined();
    expect(formula('doc', 'missing')).toBeUndefined();
    expect(formula('nowhere', 'view')).toBeUndefined();
  });
});
