/**
 * Which checks a relationship change can affect, derived once from the schema's structure.
 *
 * A change to `T#r` can change the answer of `X#p` only if `p`'s expression reaches `T#r`:
 * directly, through a userset subject type (`group#member`), or as the tupleset of an arrow
 * (`r->q`, `r.any(q)`), which is what SpiceDB's DependentRelations reports (the integration
 * suite compares the two). Two cheap narrowings follow from the type graph:
 * - by subject: a change whose subject is a plain object of a type that has no relations (a
 *   user) can only change that subject's answers: nothing is reachable through it but itself;
 * - by resource: a check on the changed object's own type can only be affected on that very
 *   object, unless the type can reach itself through relations (a cycle in the type graph).
 */
import type { RelationshipChange } from '../spicedb/watch.js';

export interface SchemaShapeSubjectType {
  type: string;
  relation?: string | undefined;
  wildcard?: boolean | undefined;
  expiration?: boolean | undefined;
}

export interface SchemaShape {
  definitions: ReadonlyArray<{
    name: string;
    relations: ReadonlyArray<{ name: string; subjectTypes: readonly SchemaShapeSubjectType[] }>;
    permissions: ReadonlyArray<{ name: string; expression: string }>;
  }>;
}

/** What a change can reach: a set of `type#permission`, and who and where it can matter. */
export interface AffectedChecks {
  /** `type#permission` pairs whose answers may change. */
  permissions: ReadonlySet<string>;
  /** Only checks with this subject (`type:id`) can change; undefined = any subject. */
  subject?: string;
  /** Checks on the changed object's type can change only on this id. */
  sameTypeResourceId?: string;
  resourceType: string;
}

const NAME = /[a-z][a-z0-9_]*/;
/** `name`, `name->target`, `name.any(target)`, `name.all(target)` in SpiceDB's printed form. */
const TERM = new RegExp(
  `(${NAME.source})(?:\\s*->\\s*(${NAME.source})|\\.(?:any|all)\\(\\s*(${NAME.source})\\s*\\))?`,
  'g',
);
const KEYWORDS = new Set(['nil', 'self', 'any', 'all']);

interface Term {
  name: string;
  arrowTarget?: string;
}

export function termsOf(expression: string): Term[] {
  const terms: Term[] = [];
  for (const match of expression.matchAll(TERM)) {
    const [, name, arrow, functional] = match;
    if (name === undefined || KEYWORDS.has(name)) continue;
    const target = arrow ?? functional;
    terms.push(target ? { name, arrowTarget: target } : { name });
  }
  return terms;
}

export class WatchScope {
  /** `T#r` (relation) -> every `X#p` (permission) that depends on it. */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly leafTypes = new Set<string>();
  private readonly cyclicTypes = new Set<string>();
  private readonly expiringRelations = new Set<string>();

  constructor(private readonly schema: SchemaShape) {
    for (const definition of schema.definitions) {
      if (definition.relations.length === 0) this.leafTypes.add(definition.name);
      for (const relation of definition.relations) {
        if (relation.subjectTypes.some((s) => s.expiration)) {
          this.expiringRelations.add(`${definition.name}#${relation.name}`);
        }
      }
      for (const permission of definition.permissions) {
        const key = `${definition.name}#${permission.name}`;
        for (const relation of this.dependencies(definition.name, permission.name)) {
          let set = this.dependents.get(relation);
          if (set === undefined) this.dependents.set(relation, (set = new Set()));
          set.add(key);
        }
      }
    }
    for (const definition of schema.definitions) {
      if (this.reaches(definition.name, definition.name)) this.cyclicTypes.add(definition.name);
    }
  }

  /** Relations (`T#r`) whose relationships `type#permission` is computed from, transitively. */
  dependencies(type: string, name: string): Set<string> {
    const found = new Set<string>();
    this.collect(type, name, found, new Set());
    return found;
  }

  private definition(type: string) {
    return this.schema.definitions.find((d) => d.name === type);
  }

  private collect(type: string, name: string, found: Set<string>, visiting: Set<string>): void {
    const key = `${type}#${name}`;
    if (visiting.has(key)) return;
    visiting.add(key);
    const definition = this.definition(type);
    if (definition === undefined) return;
    const relation = definition.relations.find((r) => r.name === name);
    if (relation !== undefined) {
      found.add(key);
      for (const subject of relation.subjectTypes) {
        if (subject.relation) this.collect(subject.type, subject.relation, found, visiting);
      }
      return;
    }
    const permission = definition.permissions.find((p) => p.name === name);
    if (permission === undefined) return;
    for (const term of termsOf(permission.expression)) {
      if (term.arrowTarget === undefined) {
        this.collect(type, term.name, found, visiting);
        continue;
      }
      const tupleset = definition.relations.find((r) => r.name === term.name);
      if (tupleset === undefined) continue;
      found.add(`${type}#${term.name}`);
      for (const subject of tupleset.subjectTypes) {
        this.collect(subject.type, term.arrowTarget, found, visiting);
      }
    }
  }

  /** Whether `from` can reach `to` through one or more relation edges (subject types). */
  private reaches(from: string, to: string): boolean {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length > 0) {
      const current = stack.pop() as string;
      for (const relation of this.definition(current)?.relations ?? []) {
        for (const subject of relation.subjectTypes) {
          if (subject.type === to) return true;
          if (!seen.has(subject.type)) {
            seen.add(subject.type);
            stack.push(subject.type);
          }
        }
      }
    }
    return false;
  }

  /** Whether any relation can carry an expiration (the schema has `use expiration` traits). */
  get usesExpiration(): boolean {
    return this.expiringRelations.size > 0;
  }

  /** Relations (`T#r`) that may hold expiring relationships. */
  get relationsWithExpiration(): ReadonlySet<string> {
    return this.expiringRelations;
  }

  /** The checks `change` can affect (an empty permission set: none). */
  affected(change: RelationshipChange): AffectedChecks {
    const permissions =
      this.dependents.get(`${change.resource.type}#${change.relation}`) ?? new Set<string>();
    const result: AffectedChecks = { permissions, resourceType: change.resource.type };
    const subject = change.subject;
    if (subject.relation === undefined && subject.id !== '*' && this.leafTypes.has(subject.type)) {
      result.subject = `${subject.type}:${subject.id}`;
    }
    if (!this.cyclicTypes.has(change.resource.type)) {
      result.sameTypeResourceId = change.resource.id;
    }
    return result;
  }

  /** Whether a check (`resource`, `permission`, `subject`) falls inside `affected`. */
  static matches(
    affected: AffectedChecks,
    check: { resource: { type: string; id: string }; permission: string; subjectKey: string },
  ): boolean {
    if (!affected.permissions.has(`${check.resource.type}#${check.permission}`)) return false;
    if (affected.subject !== undefined && affected.subject !== check.subjectKey) return false;
    if (
      affected.sameTypeResourceId !== undefined &&
      check.resource.type === affected.resourceType &&
      check.resource.id !== affected.sameTypeResourceId
    ) {
      return false;
    }
    return true;
  }
}
