import { readSchemaFile } from '../spicedb/connection.js';
import type { ReadConsistency } from '../spicedb/consistency.js';
import type { ObjectId, SpiceDbGateway } from '../spicedb/gateway.js';
import { v1 } from '../spicedb/proto.js';

/**
 * Why SpiceDB answers a check the way it does, in domain terms.
 *
 * The answer comes from CheckPermission with tracing (the authoritative `allowed` and the
 * revision it was computed at). The path comes from ExpandPermissionTree at that revision: its
 * tree mirrors the permission's schema expression (unions, intersections, arrows) down to the
 * stored relations and their subjects, so it names both what grants a permission and, for a
 * refusal, which relations would. Where the expansion disagrees with the check (a write landed
 * in between), the relations the trace found granting are used instead.
 */

/** `type:id#relation` */
export type Onr = string;

/** A plain copy of SpiceDB's expansion tree. */
export type ExpansionNode =
  | { kind: 'leaf'; node: Onr; subjects: string[] }
  | { kind: 'union' | 'intersection' | 'exclusion'; node: Onr; children: ExpansionNode[] };

export interface Explanation {
  allowed: boolean;
  /** The ZedToken of the revision the answer was computed at. */
  checkedAt: string;
  resource: string;
  permission: string;
  subject: string;
  /**
   * From the subject to `resource#permission`: the stored relation the subject holds, then each
   * object the permission was reached through. Empty when refused.
   */
  path: string[];
  /** The stored relationships that make the path, in zed notation. Empty when refused. */
  relationships: string[];
  /**
   * When refused: the alternatives that would grant it, each the relation(s) the subject lacks
   * (`a & b` when both are needed); ordered by how little is missing. Empty when allowed.
   */
  missing: string[];
  /** The schema expression of each permission on the way, `type#permission = expression`. */
  rules: string[];
  explanation: string;
}

// ---------------------------------------------------------------------------------------------
// schema text

export interface SchemaDefinition {
  relations: Map<string, string[]>;
  permissions: Map<string, string>;
}

/** Relations (with their subject types) and permission expressions of a schema text. */
export function parseSchemaText(schema: string): Map<string, SchemaDefinition> {
  const withoutComments = schema.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const definitions = new Map<string, SchemaDefinition>();
  const definitionPattern = /definition\s+([\w/]+)\s*\{([^}]*)\}/g;
  for (const match of withoutComments.matchAll(definitionPattern)) {
    const [, name = '', body = ''] = match;
    const definition: SchemaDefinition = { relations: new Map(), permissions: new Map() };
    for (const line of body.split('\n')) {
      const relation = /^\s*relation\s+(\w+)\s*:\s*(.+?)\s*$/.exec(line);
      if (relation?.[1] && relation[2]) {
        const types = relation[2].split('|').map((t) => t.trim().replace(/#.*$/, ''));
        definition.relations.set(relation[1], types);
      }
      const permission = /^\s*permission\s+(\w+)\s*=\s*(.+?)\s*$/.exec(line);
      if (permission?.[1] && permission[2]) {
        definition.permissions.set(permission[1], permission[2]);
      }
    }
    definitions.set(name, definition);
  }
  return definitions;
}

let schemaFromFile: Promise<Map<string, SchemaDefinition>> | undefined;
function serviceSchema(): Promise<Map<string, SchemaDefinition>> {
  schemaFromFile ??= readSchemaFile().then(parseSchemaText);
  return schemaFromFile;
}

// ---------------------------------------------------------------------------------------------
// expansion

const onrOf = (object: v1.ObjectReference | undefined, relation: string): Onr =>
  `${object?.objectType ?? ''}:${object?.objectId ?? ''}#${relation}`;

export const subjectString = (subject: v1.SubjectReference): string =>
  `${subject.object?.objectType ?? ''}:${subject.object?.objectId ?? ''}${
    subject.optionalRelation ? `#${subject.optionalRelation}` : ''
  }`;

export function expansionOf(tree: v1.PermissionRelationshipTree): ExpansionNode {
  const node = onrOf(tree.expandedObject, tree.expandedRelation);
  const type = tree.treeType;
  if (type.oneofKind === 'leaf') {
    return { kind: 'leaf', node, subjects: type.leaf.subjects.map(subjectString) };
  }
  if (type.oneofKind === 'intermediate') {
    const op = type.intermediate.operation;
    const kind =
      op === v1.AlgebraicSubjectSet_Operation.INTERSECTION
        ? 'intersection'
        : op === v1.AlgebraicSubjectSet_Operation.EXCLUSION
          ? 'exclusion'
          : 'union';
    return { kind, node, children: type.intermediate.children.map(expansionOf) };
  }
  return { kind: 'union', node, children: [] };
}

/** ExpandPermissionTree as a plain tree. */
export async function expandPermission(
  gateway: SpiceDbGateway,
  resource: ObjectId,
  permission: string,
  consistency: ReadConsistency,
): Promise<ExpansionNode> {
  const response = await gateway.expand(resource, permission, consistency);
  if (response.treeRoot === undefined) {
    return { kind: 'union', node: `${resource.type}:${resource.id}#${permission}`, children: [] };
  }
  return expansionOf(response.treeRoot);
}

/**
 * Every terminal subject of an expansion with the stored relations it was found in, computed
 * the way SpiceDB's validation (and so `zed validate` and the playground) computes them.
 */
export function foundSubjects(tree: ExpansionNode): Map<string, Set<Onr>> {
  if (tree.kind === 'leaf') {
    return new Map(tree.subjects.map((s) => [s, new Set([tree.node])]));
  }
  const [first, ...rest] = tree.children.map(foundSubjects);
  if (first === undefined) return new Map();
  if (tree.kind === 'union') {
    for (const other of rest) mergeInto(first, other);
    return first;
  }
  if (tree.kind === 'intersection') {
    for (const other of rest) {
      for (const [subject, parents] of first) {
        const there = other.get(subject);
        if (there === undefined) first.delete(subject);
        else for (const p of there) parents.add(p);
      }
    }
    return first;
  }
  for (const other of rest) for (const subject of other.keys()) first.delete(subject);
  return first;
}

function mergeInto(target: Map<string, Set<Onr>>, source: Map<string, Set<Onr>>): void {
  for (const [subject, parents] of source) {
    const existing = target.get(subject);
    if (existing === undefined) target.set(subject, new Set(parents));
    else for (const p of parents) existing.add(p);
  }
}

/** One way to hold the permission: every leaf relation it needs, each with its chain of nodes. */
interface Alternative {
  needs: Array<{ leaf: Onr; subjects: ReadonlySet<string>; chain: Onr[] }>;
}

const MAX_ALTERNATIVES = 200;

/** The permission's expansion as a disjunction of conjunctions of stored relations. */
function alternativesOf(tree: ExpansionNode, above: Onr[] = []): Alternative[] {
  const chain = above.at(-1) === tree.node ? above : [...above, tree.node];
  if (tree.kind === 'leaf') {
    return [{ needs: [{ leaf: tree.node, subjects: new Set(tree.subjects), chain }] }];
  }
  if (tree.kind === 'union') {
    return tree.children.flatMap((c) => alternativesOf(c, chain)).slice(0, MAX_ALTERNATIVES);
  }
  if (tree.kind === 'exclusion') {
    // What would grant is the base; the excluded part only ever takes away.
    const base = tree.children[0];
    return base === undefined ? [] : alternativesOf(base, chain);
  }
  let combined: Alternative[] = [{ needs: [] }];
  for (const child of tree.children) {
    const options = alternativesOf(child, chain);
    combined = combined
      .flatMap((left) => options.map((right) => ({ needs: [...left.needs, ...right.needs] })))
      .slice(0, MAX_ALTERNATIVES);
  }
  return combined;
}

// ---------------------------------------------------------------------------------------------
// explanation

const objectOf = (onr: Onr): string => onr.slice(0, onr.lastIndexOf('#'));
const relationOf = (onr: Onr): string => onr.slice(onr.lastIndexOf('#') + 1);
const typeOf = (object: string): string => object.slice(0, object.indexOf(':'));

/** The chain from leaf to root with each object's own inner permissions folded away. */
function collapse(chainRootFirst: Onr[]): Onr[] {
  const upward = [...chainRootFirst].reverse();
  const kept: Onr[] = [];
  for (const [index, onr] of upward.entries()) {
    const below = kept.at(-1);
    const isRoot = index === upward.length - 1;
    if (below !== undefined && objectOf(below) === objectOf(onr) && !isRoot) continue;
    kept.push(onr);
  }
  return kept;
}

/** The relation that links `from` (an object) to `to` (an object of another type), e.g. cluster#project. */
function linkRelation(
  schema: Map<string, SchemaDefinition>,
  fromObject: string,
  toObject: string,
): string | undefined {
  const relations = schema.get(typeOf(fromObject))?.relations;
  if (relations === undefined) return undefined;
  for (const [name, types] of relations) if (types.includes(typeOf(toObject))) return name;
  return undefined;
}

function relationshipsOf(
  schema: Map<string, SchemaDefinition>,
  need: { leaf: Onr; chain: Onr[] },
  subject: string,
): string[] {
  const found = [`${need.leaf}@${subject}`];
  const objects = need.chain.map(objectOf);
  for (let i = objects.length - 1; i > 0; i -= 1) {
    const lower = objects[i] ?? '';
    const upper = objects[i - 1] ?? '';
    if (lower === upper) continue;
    const link = linkRelation(schema, upper, lower);
    if (link !== undefined) found.push(`${upper}#${link}@${lower}`);
  }
  return found;
}

function rulesOf(schema: Map<string, SchemaDefinition>, chains: Onr[][]): string[] {
  const rules = new Set<string>();
  for (const chain of chains) {
    for (const onr of chain) {
      const type = typeOf(objectOf(onr));
      const expression = schema.get(type)?.permissions.get(relationOf(onr));
      if (expression !== undefined) rules.add(`${type}#${relationOf(onr)} = ${expression}`);
    }
  }
  return [...rules];
}

function describeRelationship(relationship: string): string {
  const [left = '', subject = ''] = relationship.split('@');
  const relation = relationOf(left);
  const object = objectOf(left);
  if (typeOf(subject) !== 'user') return `${subject} is the ${relation} of ${object}`;
  return `${subject} is ${relation} of ${object}`;
}

type CheckTrace = NonNullable<NonNullable<v1.CheckPermissionResponse['debugTrace']>['check']>;
/** authzed-node does not export debug.proto's enums: CheckDebugTrace.Permissionship / PermissionType. */
const TRACE_HAS_PERMISSION = 2;
const TRACE_RELATION = 1;

/** Trace nodes of stored relations that SpiceDB found the subject in. */
function grantingRelationsInTrace(trace: CheckTrace | undefined): Onr[] {
  if (trace === undefined) return [];
  const granted = (trace.result as number) === TRACE_HAS_PERMISSION;
  if (trace.resolution.oneofKind === 'subProblems') {
    return trace.resolution.subProblems.traces.flatMap(grantingRelationsInTrace);
  }
  if (granted && (trace.permissionType as number) === TRACE_RELATION) {
    return [onrOf(trace.resource, trace.permission)];
  }
  return [];
}

export interface ExplainRequest {
  resource: ObjectId;
  permission: string;
  subject: ObjectId;
}

export async function explainPermission(
  gateway: SpiceDbGateway,
  request: ExplainRequest,
  consistency: ReadConsistency,
  schemaText?: string,
): Promise<Explanation> {
  const schema = schemaText !== undefined ? parseSchemaText(schemaText) : await serviceSchema();
  const resource = `${request.resource.type}:${request.resource.id}`;
  const subject = `${request.subject.type}:${request.subject.id}`;
  const target = `${resource}#${request.permission}`;

  const checked = await gateway.checkWithTrace(request, consistency);
  const allowed =
    checked.permissionship === v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;
  const checkedAt = checked.checkedAt?.token ?? '';
  const tree = await expandPermission(
    gateway,
    request.resource,
    request.permission,
    checkedAt ? { kind: 'atLeastAsFresh', token: checkedAt } : consistency,
  );
  const alternatives = alternativesOf(tree);
  const base = { allowed, checkedAt, resource, permission: request.permission, subject };

  if (allowed) {
    const held = alternatives
      .filter((a) => a.needs.every((n) => n.subjects.has(subject)))
      .sort(
        (a, b) =>
          a.needs.length - b.needs.length ||
          Math.max(...a.needs.map((n) => n.chain.length)) -
            Math.max(...b.needs.map((n) => n.chain.length)),
      )[0];
    if (held === undefined) {
      const relations = grantingRelationsInTrace(checked.debugTrace?.check);
      return {
        ...base,
        path: [subject, ...relations, target],
        relationships: relations.map((r) => `${r}@${subject}`),
        missing: [],
        rules: rulesOf(schema, [[target]]),
        explanation: `${subject} holds ${target} through ${relations.join(' and ') || 'a relation the expansion no longer shows'} (from the check's trace)`,
      };
    }
    const branches = held.needs.map((n) => collapse(n.chain));
    const tail = commonTail(branches);
    const path =
      branches.length === 1
        ? [subject, ...(branches[0] ?? [])]
        : [
            subject,
            `(${branches.map((b) => b.slice(0, b.length - tail.length).join(' → ')).join(' & ')})`,
            ...tail,
          ];
    const relationships = [
      ...new Set(held.needs.flatMap((n) => relationshipsOf(schema, n, subject))),
    ];
    const rules = rulesOf(
      schema,
      held.needs.map((n) => n.chain),
    );
    return {
      ...base,
      path,
      relationships,
      missing: [],
      rules,
      explanation: `${relationships.map(describeRelationship).join(', and ')}; so ${subject} holds ${target} (${rules.join('; ')})`,
    };
  }

  const ranked = alternatives
    .map((a) => ({
      lacking: [...new Set(a.needs.filter((n) => !n.subjects.has(subject)).map((n) => n.leaf))],
      held: [...new Set(a.needs.filter((n) => n.subjects.has(subject)).map((n) => n.leaf))],
    }))
    .filter((a) => a.lacking.length > 0)
    .sort(
      (a, b) =>
        a.lacking.length - b.lacking.length || a.lacking.join().localeCompare(b.lacking.join()),
    );
  const missing = [...new Set(ranked.map((a) => a.lacking.join(' & ')))];
  // What each alternative lacks, and what of it the subject already holds.
  const options = [
    ...new Set(
      ranked.map(
        (a) =>
          a.lacking.join(' & ') +
          (a.held.length > 0 ? ` (with ${a.held.join(' & ')}, which it holds)` : ''),
      ),
    ),
  ];
  const rules = rulesOf(
    schema,
    alternatives.length > 0 ? alternatives.flatMap((a) => a.needs.map((n) => n.chain)) : [[target]],
  );
  if (missing.length === 0) {
    // Nothing reachable could grant it: the relations the expression starts from are missing.
    const expression = schema.get(request.resource.type)?.permissions.get(request.permission);
    const starts = [...(expression ?? '').matchAll(/(\w+)(?:->\w+)?/g)]
      .map((m) => m[1] ?? '')
      .filter((name) => schema.get(request.resource.type)?.relations.has(name));
    const needed = [...new Set(starts)].map((name) => `${resource}#${name}`);
    return {
      ...base,
      path: [],
      relationships: [],
      missing: needed,
      rules,
      explanation: `no relation grants ${target} to ${subject}: ${resource} has no ${needed.join(' or ') || 'relation'} that leads to it (${rules.join('; ')})`,
    };
  }
  return {
    ...base,
    path: [],
    relationships: [],
    missing,
    rules,
    explanation: `no relation grants ${target} to ${subject}; it needs one of: ${options.join(', ')} (${rules.join('; ')})`,
  };
}

/** The nodes every branch ends with (where an intersection's parts meet), root last. */
function commonTail(branches: Onr[][]): Onr[] {
  const [first, ...rest] = branches;
  if (first === undefined) return [];
  let length = 0;
  while (
    length < first.length &&
    rest.every(
      (b) => b.at(-1 - length) !== undefined && b.at(-1 - length) === first.at(-1 - length),
    )
  ) {
    length += 1;
  }
  return first.slice(first.length - length);
}
