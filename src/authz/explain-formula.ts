import type { TraceNode } from '../spicedb/trace.js';
import type { PermissionTree } from './schema.generated.js';
import type { SchemaDefinitions } from './watch-scope.js';

/**
 * A permission's operators, which SpiceDB's debug trace does not carry: within one permission
 * the trace lists the parts of a union, an intersection or an exclusion alike as sub-problems.
 * They are the tree SpiceDB compiled the permission to (its UsersetRewrite), as the generated
 * schema module holds it (src/authz/schema.generated.ts, or a test schema compiled the same
 * way by devvalidate `schema`). Every use is checked against the trace: a formula whose value
 * over the trace's results is not SpiceDB's answer for that node is not used (explain then
 * reads the node as the trace alone shows it).
 */
export type Formula = PermissionTree;

/** The permission's formula from the definitions, undefined for a relation or unknown name. */
export function permissionFormula(
  definitions: SchemaDefinitions,
  type: string,
  permission: string,
): { expression: string; formula: Formula } | undefined {
  const definition = Object.hasOwn(definitions, type) ? definitions[type] : undefined;
  const found =
    definition && Object.hasOwn(definition.permissions, permission)
      ? definition.permissions[permission]
      : undefined;
  return found && { expression: found.expression, formula: found.tree };
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
