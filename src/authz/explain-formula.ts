import type { TraceNode } from '../spicedb/trace.js';
import type { SchemaDefinitions } from './watch-scope.js';

/**
 * A permission's operators, which SpiceDB's debug trace does not carry: within one permission
 * the trace lists the parts of a union, an intersection or an exclusion alike as sub-problems.
 * They are read from the expression the generated schema module holds (src/authz/
 * schema.generated.ts, or a test schema compiled the same way), as SpiceDB's own schema
 * generator prints it: `-` binds loosest, then `&`, then `+`, all left-associative, with
 * parentheses where SpiceDB's generator puts them. Every use is checked against the trace: a
 * formula whose value over the trace's results is not SpiceDB's answer for that node is not
 * used (explain then reads the node as the trace alone shows it).
 */
export type Formula =
  | { op: 'union' | 'intersection'; parts: Formula[] }
  | { op: 'exclusion'; base: Formula; minus: Formula }
  /** A relation or permission of the same object (a computed userset). */
  | { op: 'computed'; name: string }
  /** `tupleset->target`, `tupleset.any(target)`, `tupleset.all(target)`. */
  | { op: 'arrow'; tupleset: string; target: string; all: boolean }
  | { op: 'self' }
  | { op: 'nil' };

const TOKEN = /\s*(->|[()+&\-.]|[a-z][a-z0-9_]*)/y;

function tokens(expression: string): string[] {
  const found: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expression.trimEnd().length) {
    const match = TOKEN.exec(expression);
    if (match?.[1] === undefined) throw new Error(`unexpected text in ${expression}`);
    found.push(match[1]);
  }
  return found;
}

/** The operators of a generated expression; throws on text SpiceDB's generator does not write. */
export function formulaOf(expression: string): Formula {
  const list = tokens(expression);
  let at = 0;
  const peek = () => list[at];
  const take = (expected?: string): string => {
    const token = list[at];
    if (token === undefined || (expected !== undefined && token !== expected)) {
      throw new Error(`expected ${expected ?? 'a term'} in ${expression}`);
    }
    at += 1;
    return token;
  };
  const term = (): Formula => {
    const token = take();
    if (token === '(') {
      const inner = exclusion();
      take(')');
      return inner;
    }
    if (!/^[a-z]/.test(token)) throw new Error(`unexpected ${token} in ${expression}`);
    if (peek() === '->') {
      take();
      return { op: 'arrow', tupleset: token, target: take(), all: false };
    }
    if (peek() === '.') {
      take();
      const fn = take();
      take('(');
      const target = take();
      take(')');
      return { op: 'arrow', tupleset: token, target, all: fn === 'all' };
    }
    if (token === 'nil') return { op: 'nil' };
    if (token === 'self') return { op: 'self' };
    return { op: 'computed', name: token };
  };
  const level =
    (operator: string, op: 'union' | 'intersection', next: () => Formula) => (): Formula => {
      const parts = [next()];
      while (peek() === operator) {
        take();
        parts.push(next());
      }
      return parts.length === 1 ? (parts[0] as Formula) : { op, parts };
    };
  const union = level('+', 'union', term);
  const intersection = level('&', 'intersection', union);
  const exclusion = (): Formula => {
    let formula = intersection();
    while (peek() === '-') {
      take();
      formula = { op: 'exclusion', base: formula, minus: intersection() };
    }
    return formula;
  };
  const formula = exclusion();
  if (at !== list.length) throw new Error(`unexpected ${peek() ?? ''} in ${expression}`);
  return formula;
}

/** The permission's formula from the definitions, undefined for a relation or unknown name. */
export function permissionFormula(
  definitions: SchemaDefinitions,
  type: string,
  permission: string,
): { expression: string; formula: Formula } | undefined {
  const definition = Object.hasOwn(definitions, type) ? definitions[type] : undefined;
  const expression =
    definition && Object.hasOwn(definition.permissions, permission)
      ? definition.permissions[permission]?.expression
      : undefined;
  if (expression === undefined) return undefined;
  try {
    return { expression, formula: formulaOf(expression) };
  } catch {
    return undefined;
  }
}

export type Value = 'has' | 'no' | 'unknown';

/** The sub-problems of `node` (one object) that a term of its formula was answered by. */
export function partsOf(
  definitions: SchemaDefinitions,
  node: TraceNode,
  term: Extract<Formula, { op: 'computed' | 'arrow' }>,
): TraceNode[] {
  const id = node.ids[0];
  if (term.op === 'computed') {
    return node.children.filter(
      (c) => c.type === node.type && c.permission === term.name && c.ids.includes(id ?? ''),
    );
  }
  const relations = Object.hasOwn(definitions, node.type)
    ? definitions[node.type]?.relations
    : undefined;
  const tupleset =
    relations && Object.hasOwn(relations, term.tupleset) ? relations[term.tupleset] : undefined;
  const types = new Set(tupleset?.subjectTypes.map((s) => s.type) ?? []);
  return node.children.filter(
    (c) =>
      c.permission === term.target &&
      types.has(c.type) &&
      !(c.type === node.type && c.ids.includes(id ?? '')),
  );
}

const valueOfNode = (node: TraceNode): Value => (node.result === 'has' ? 'has' : 'no');

/** The formula's value over the trace's answers for `node`'s parts. */
export function evaluate(
  definitions: SchemaDefinitions,
  node: TraceNode,
  formula: Formula,
  subject: string,
): Value {
  switch (formula.op) {
    case 'nil':
      return 'no';
    case 'self':
      return subject === `${node.type}:${node.ids[0] ?? ''}` ? 'has' : 'no';
    case 'computed':
    case 'arrow': {
      const parts = partsOf(definitions, node, formula).map(valueOfNode);
      // No sub-problem of an arrow: SpiceDB found no object through the tupleset.
      if (parts.length === 0) return formula.op === 'arrow' ? 'no' : 'unknown';
      if (formula.op === 'arrow' && formula.all) return parts.includes('no') ? 'no' : 'has';
      return parts.includes('has') ? 'has' : 'no';
    }
    case 'union': {
      const values = formula.parts.map((p) => evaluate(definitions, node, p, subject));
      if (values.includes('has')) return 'has';
      return values.includes('unknown') ? 'unknown' : 'no';
    }
    case 'intersection': {
      const values = formula.parts.map((p) => evaluate(definitions, node, p, subject));
      if (values.includes('no')) return 'no';
      return values.includes('unknown') ? 'unknown' : 'has';
    }
    case 'exclusion': {
      const base = evaluate(definitions, node, formula.base, subject);
      const minus = evaluate(definitions, node, formula.minus, subject);
      if (base === 'no' || minus === 'has') return 'no';
      return base === 'has' && minus === 'no' ? 'has' : 'unknown';
    }
  }
}

/** The formula for `node` when the trace agrees with it (see the module comment). */
export function checkedFormula(
  definitions: SchemaDefinitions,
  node: TraceNode,
  subject: string,
): Formula | undefined {
  if (node.kind !== 'permission' || node.ids.length !== 1) return undefined;
  const found = permissionFormula(definitions, node.type, node.permission);
  if (found === undefined) return undefined;
  const value = evaluate(definitions, node, found.formula, subject);
  return value === 'unknown' || value === valueOfNode(node) ? found.formula : undefined;
}
