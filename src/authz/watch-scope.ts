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
import type { DefinitionShape, PermissionTree } from './schema.generated.js';

/** A compiled schema as the generated module (src/authz/schema.generated.ts) holds it. */
export type SchemaDefinitions = Readonly<Record<string, DefinitionShape>>;

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

interface Term {
  name: string;
  arrowTarget?: string;
}

/** The relations a permission's compiled rule (SpiceDB's tree) names, and its arrows' targets. */
export function termsOf(tree: PermissionTree): Term[] {
  switch (tree.op) {
    case 'union':
    case 'intersection':
      return tree.parts.flatMap(termsOf);
    case 'exclusion':
      return [...termsOf(tree.base), ...termsOf(tree.minus)];
    case 'computed':
      return [{ name: tree.name }];
    case 'arrow':
      return [{ name: tree.tupleset, arrowTarget: tree.target }];
    case 'self':
    case 'nil':
      return [];
  }
}

export class WatchScope {
  /** `T#r` (relation) -> every `X#p` (permission) that depends on it. */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly leafTypes = new Set<string>();
  private readonly cyclicTypes = new Set<string>();
  private readonly expiringRelations = new Set<string>();

  constructor(private readonly definitions: SchemaDefinitions) {
    for (const [type, definition] of Object.entries(definitions)) {
      if (Object.keys(definition.relations).length === 0) this.leafTypes.add(type);
      for (const [name, relation] of Object.entries(definition.relations)) {
        if (relation.subjectTypes.some((s) => s.expiration)) {
          this.expiringRelations.add(`${type}#${name}`);
        }
      }
      for (const permission of Object.keys(definition.permissions)) {
        for (const relation of this.dependencies(type, permission)) {
          let set = this.dependents.get(relation);
          if (set === undefined) this.dependents.set(relation, (set = new Set()));
          set.add(`${type}#${permission}`);
        }
      }
    }
    for (const type of Object.keys(definitions)) {
      if (this.reaches(type, type)) this.cyclicTypes.add(type);
    }
  }

  /** Relations (`T#r`) whose relationships `type#permission` is computed from, transitively. */
  dependencies(type: string, name: string): Set<string> {
    const found = new Set<string>();
    this.collect(type, name, found, new Set());
    return found;
  }

  private definition(type: string): DefinitionShape | undefined {
    return Object.hasOwn(this.definitions, type) ? this.definitions[type] : undefined;
  }

  private collect(type: string, name: string, found: Set<string>, visiting: Set<string>): void {
    const key = `${type}#${name}`;
    if (visiting.has(key)) return;
    visiting.add(key);
    const definition = this.definition(type);
    if (definition === undefined) return;
    const relation = Object.hasOwn(definition.relations, name)
      ? definition.relations[name]
      : undefined;
    if (relation !== undefined) {
      found.add(key);
      for (const subject of relation.subjectTypes) {
        if (subject.relation) this.collect(subject.type, subject.relation, found, visiting);
      }
      return;
    }
    const permission = Object.hasOwn(definition.permissions, name)
      ? definition.permissions[name]
      : undefined;
    if (permission === undefined) return;
    for (const term of termsOf(permission.tree)) {
      if (term.arrowTarget === undefined) {
        this.collect(type, term.name, found, visiting);
        continue;
      }
      const tupleset = Object.hasOwn(definition.relations, term.name)
        ? definition.relations[term.name]
        : undefined;
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
      for (const relation of Object.values(this.definition(current)?.relations ?? {})) {
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
