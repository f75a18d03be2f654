import type { ReadConsistency } from '../spicedb/consistency.js';
import type { ObjectId, SpiceDbGateway } from '../spicedb/gateway.js';
import { ExplainReads } from './explain-context.js';
import { permissionFormula } from './explain-formula.js';
import {
  alternativesOf,
  heldBy,
  objectOf,
  permissionNodes,
  type Need,
  type Onr,
} from './explain-paths.js';
import { DEFINITIONS } from './schema.generated.js';
import type { SchemaDefinitions } from './watch-scope.js';

/**
 * Why SpiceDB answers a check the way it does, in domain terms, from the check's own debug
 * trace (CheckPermission with `withTracing`, what `zed permission check --explain` prints): the
 * sub-problems SpiceDB answered on the way, read with each permission's operators from the
 * tree SpiceDB compiled it to, in the generated schema module (explain-formula.ts). See
 * docs/explain.md.
 */

export type { Onr } from './explain-paths.js';

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

export interface ExplainRequest {
  resource: ObjectId;
  permission: string;
  subject: ObjectId;
}

const relationOf = (onr: Onr): string => onr.slice(onr.lastIndexOf('#') + 1);
const typeOf = (object: string): string => object.slice(0, object.indexOf(':'));

/** The chain from leaf to root with each object's own inner permissions folded away. */
function collapse(chainRootFirst: Onr[]): Onr[] {
  const upward = [...chainRootFirst].reverse();
  const kept: Onr[] = [];
  for (const [index, onr] of upward.entries()) {
    const lower = kept.at(-1);
    const isRoot = index === upward.length - 1;
    if (lower !== undefined && objectOf(lower) === objectOf(onr) && !isRoot) continue;
    kept.push(onr);
  }
  return kept;
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

function pathOf(subject: string, needs: Need[]): string[] {
  const branches = needs.map((n) => collapse(n.chain));
  if (branches.length === 1) return [subject, ...(branches[0] ?? [])];
  const tail = commonTail(branches);
  const parts = [...new Set(branches.map((b) => b.slice(0, b.length - tail.length).join(' → ')))];
  return parts.length === 1
    ? [subject, parts[0] ?? '', ...tail]
    : [subject, `(${parts.join(' & ')})`, ...tail];
}

function rulesOf(definitions: SchemaDefinitions, onrs: Iterable<Onr>): string[] {
  const rules = new Set<string>();
  for (const onr of onrs) {
    const type = typeOf(objectOf(onr));
    const found = permissionFormula(definitions, type, relationOf(onr));
    if (found !== undefined) rules.add(`${type}#${relationOf(onr)} = ${found.expression}`);
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

export async function explainPermission(
  gateway: SpiceDbGateway,
  request: ExplainRequest,
  consistency: ReadConsistency,
  definitions: SchemaDefinitions = DEFINITIONS,
): Promise<Explanation> {
  const resource = `${request.resource.type}:${request.resource.id}`;
  const subject = `${request.subject.type}:${request.subject.id}`;
  const target = `${resource}#${request.permission}`;

  const checked = await gateway.checkWithTrace(request, consistency);
  const { allowed, checkedAt } = checked;
  // Everything further is read at the check's revision or later.
  const read: ReadConsistency = checkedAt
    ? { kind: 'atLeastAsFresh', token: checkedAt }
    : consistency;
  const reads = new ExplainReads(gateway, request.subject, read);
  const [root] = checked.trace ? await reads.unbatched(checked.trace) : [undefined];
  const ctx = reads.context(definitions);
  const base = { allowed, checkedAt, resource, permission: request.permission, subject };

  const needs = allowed && root ? await heldBy(ctx, root) : undefined;
  if (allowed) {
    if (needs === undefined) {
      return {
        ...base,
        path: [subject, target],
        relationships: [],
        missing: [],
        rules: rulesOf(definitions, [target]),
        explanation: `${subject} holds ${target} (SpiceDB's trace shows no path: ${root ? 'it answered from its cache' : 'no trace was sent'})`,
      };
    }
    // From the subject up, as the path reads.
    const relationships = [...new Set(needs.flatMap((n) => [...n.relationships].reverse()))];
    const rules = rulesOf(
      definitions,
      needs.flatMap((n) => n.chain),
    );
    const described = relationships.map(describeRelationship).join(', and ');
    return {
      ...base,
      path: pathOf(subject, needs),
      relationships,
      missing: [],
      rules,
      explanation: `${described || `${subject} is ${resource}`}; so ${subject} holds ${target} (${rules.join('; ')})`,
    };
  }

  const alternatives = root ? await alternativesOf(ctx, root) : [];
  const ranked = alternatives
    .map((a) => ({ lacking: [...new Set(a.lacking)], held: [...new Set(a.held)] }))
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
    definitions,
    root
      ? permissionNodes(root).map((n) => `${n.type}:${n.ids[0] ?? ''}#${n.permission}`)
      : [target],
  );
  const conditional = checked.conditional
    ? ' (a caveat lacked context: SpiceDB answered conditionally)'
    : '';
  return {
    ...base,
    path: [],
    relationships: [],
    missing,
    rules,
    explanation:
      missing.length > 0
        ? `no relation grants ${target} to ${subject}${conditional}; it needs one of: ${options.join(', ')} (${rules.join('; ')})`
        : `no relation grants ${target} to ${subject}${conditional}, and none could (${rules.join('; ') || 'no rule'})`,
  };
}
