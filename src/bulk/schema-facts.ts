/**
 * What the target schema lets be written, as SpiceDB knows it, never read from schema text:
 * the target SpiceDB's ReflectSchema, or, for a dry run without a server, the module SpiceDB's
 * compiler generated from schema.zed (src/authz/schema.generated.ts). Lines are checked against
 * it for messages naming every bad line; SpiceDB's own validation of each batch
 * (validate-by-spicedb.ts) has the last word.
 */
import { CAVEATS, DEFINITIONS, type SubjectTypeShape } from '../authz/schema.generated.js';
import type { v1 } from '../spicedb/proto.js';
import { LineError, type RelationshipTuple } from './relationship.js';

export interface SchemaFacts {
  /** Where the facts come from, for messages. */
  source: string;
  definitions: Map<
    string,
    { relations: Map<string, SubjectTypeShape[]>; permissions: Set<string> }
  >;
  caveats: Set<string>;
  /**
   * Whether the facts say which subject types take an expiration. ReflectSchema (v1.56.2) does
   * not report `with expiration`: SpiceDB's validation of each batch judges expirations then.
   */
  knowsExpiration: boolean;
}

/** schema.zed, as SpiceDB's compiler read it when `npm run schema:gen` last ran. */
export function generatedFacts(): SchemaFacts {
  const shapes: Record<string, (typeof DEFINITIONS)[keyof typeof DEFINITIONS]> = DEFINITIONS;
  const definitions: SchemaFacts['definitions'] = new Map();
  for (const [name, shape] of Object.entries(shapes)) {
    const relations = new Map<string, SubjectTypeShape[]>();
    const declared: Record<string, { subjectTypes: readonly SubjectTypeShape[] }> = shape.relations;
    for (const [relation, { subjectTypes }] of Object.entries(declared)) {
      relations.set(relation, [...subjectTypes]);
    }
    definitions.set(name, { relations, permissions: new Set(Object.keys(shape.permissions)) });
  }
  return {
    source: 'schema.zed (src/authz/schema.generated.ts)',
    definitions,
    caveats: new Set(Object.keys(CAVEATS)),
    knowsExpiration: true,
  };
}

/** The target SpiceDB's schema from its ReflectSchema answer; undefined when it holds none. */
export function reflectedFacts(reflection: v1.ReflectSchemaResponse): SchemaFacts | undefined {
  if (reflection.definitions.length === 0 && reflection.caveats.length === 0) return undefined;
  const definitions: SchemaFacts['definitions'] = new Map();
  for (const definition of reflection.definitions) {
    const relations = new Map<string, SubjectTypeShape[]>();
    for (const relation of definition.relations) {
      relations.set(
        relation.name,
        relation.subjectTypes.map((type): SubjectTypeShape => {
          const ref = type.typeref;
          return {
            type: type.subjectDefinitionName,
            ...(ref.oneofKind === 'optionalRelationName'
              ? { relation: ref.optionalRelationName }
              : {}),
            ...(ref.oneofKind === 'isPublicWildcard' ? { wildcard: true } : {}),
            ...(type.optionalCaveatName ? { caveat: type.optionalCaveatName } : {}),
          };
        }),
      );
    }
    definitions.set(definition.name, {
      relations,
      permissions: new Set(definition.permissions.map((p) => p.name)),
    });
  }
  return {
    source: "the SpiceDB server's schema (ReflectSchema)",
    definitions,
    caveats: new Set(reflection.caveats.map((c) => c.name)),
    knowsExpiration: false,
  };
}

const shapeText = (s: SubjectTypeShape) =>
  `${s.type}${s.wildcard ? ':*' : s.relation ? `#${s.relation}` : ''}${
    s.caveat ? ` with ${s.caveat}` : ''
  }${s.expiration ? `${s.caveat ? ' and' : ' with'} expiration` : ''}`;

const subjectShapeOf = (t: RelationshipTuple, knowsExpiration: boolean): SubjectTypeShape => ({
  type: t.subjectType,
  ...(t.subjectId === '*' ? { wildcard: true } : {}),
  ...(t.subjectRelation ? { relation: t.subjectRelation } : {}),
  ...(t.caveat ? { caveat: t.caveat.name } : {}),
  ...(knowsExpiration && t.expiresAt !== undefined ? { expiration: true } : {}),
});

const sameShape = (a: SubjectTypeShape, b: SubjectTypeShape, withExpiration: boolean) =>
  a.type === b.type &&
  (a.relation ?? '') === (b.relation ?? '') &&
  (a.wildcard ?? false) === (b.wildcard ?? false) &&
  (a.caveat ?? '') === (b.caveat ?? '') &&
  (!withExpiration || (a.expiration ?? false) === (b.expiration ?? false));

/** Checks one relationship against the facts; throws a LineError naming what does not fit. */
export function checkAgainstSchema(facts: SchemaFacts, t: RelationshipTuple): void {
  const definition = facts.definitions.get(t.resourceType);
  if (!definition) {
    throw new LineError(
      `unknown resource type "${t.resourceType}" (${facts.source} defines ${[...facts.definitions.keys()].join(', ')})`,
    );
  }
  const allowed = definition.relations.get(t.relation);
  if (!allowed) {
    const what = definition.permissions.has(t.relation)
      ? `"${t.relation}" is a permission of ${t.resourceType}, not a relation`
      : `unknown relation "${t.relation}" on ${t.resourceType}`;
    throw new LineError(`${what} (relations: ${[...definition.relations.keys()].join(', ')})`);
  }
  if (!facts.definitions.has(t.subjectType)) {
    throw new LineError(`unknown subject type "${t.subjectType}"`);
  }
  if (t.caveat && !facts.caveats.has(t.caveat.name)) {
    throw new LineError(`unknown caveat "${t.caveat.name}"`);
  }
  const wanted = subjectShapeOf(t, facts.knowsExpiration);
  if (!allowed.some((shape) => sameShape(shape, wanted, facts.knowsExpiration))) {
    throw new LineError(
      `${t.resourceType}#${t.relation} does not accept subject ${shapeText(wanted)} (allowed: ${[
        ...new Set(allowed.map(shapeText)),
      ].join(' | ')})`,
    );
  }
}

/** True when the schema lets `resourceType#relation` point at a plain `subjectType` object. */
export function allowsPlainSubject(
  facts: SchemaFacts,
  resourceType: string,
  relation: string,
  subjectType: string,
): boolean {
  const allowed = facts.definitions.get(resourceType)?.relations.get(relation);
  return (
    allowed?.some(
      (s) => s.type === subjectType && !s.wildcard && !s.relation && !s.caveat && !s.expiration,
    ) ?? false
  );
}

/**
 * Whether a check of the relation itself tells if the relationship is stored: only when every
 * subject it accepts is a plain object (a subject set, a wildcard or a caveat could make a check
 * true, or conditional, without it).
 */
export function exactByCheck(facts: SchemaFacts, t: RelationshipTuple): boolean {
  const allowed = facts.definitions.get(t.resourceType)?.relations.get(t.relation);
  return (
    t.caveat === undefined &&
    t.expiresAt === undefined &&
    (allowed?.every((s) => s.relation === undefined && !s.wildcard && !s.caveat) ?? false)
  );
}

/**
 * The service writes `project:P#organization@organization:O` together with its inverse
 * `organization:O#project@project:P` (external collaborators see the organization's name through
 * it), so an import does the same. Returns the inverse when the schema has that relation.
 */
export function derivedInverse(
  facts: SchemaFacts,
  t: RelationshipTuple,
): RelationshipTuple | undefined {
  if (
    t.resourceType !== 'project' ||
    t.relation !== 'organization' ||
    t.subjectType !== 'organization' ||
    t.subjectRelation !== undefined ||
    t.caveat !== undefined ||
    t.expiresAt !== undefined ||
    !allowsPlainSubject(facts, 'organization', 'project', 'project')
  ) {
    return undefined;
  }
  return {
    resourceType: 'organization',
    resourceId: t.subjectId,
    relation: 'project',
    subjectType: 'project',
    subjectId: t.resourceId,
  };
}
