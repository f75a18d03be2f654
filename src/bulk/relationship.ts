import { ID_PATTERN } from '../authz/ids.js';
import { formatTuple, type RelationshipTuple } from '../spicedb/proto.js';
import { allowsSubject, describeAllowed, type SchemaRules } from './schema-rules.js';

export type { RelationshipTuple };

/** A line that cannot be loaded; the message says why, without the line number. */
export class LineError extends Error {
  override name = 'LineError';
}

const TYPE_NAME = /^([a-z][a-z0-9_]{1,61}[a-z0-9]\/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$/;
const RELATION_NAME = /^[a-z][a-z0-9_]{1,62}[a-z0-9]$/;

function object(text: string, role: string): { type: string; id: string } {
  const colon = text.indexOf(':');
  if (colon < 0) throw new LineError(`${role} "${text}" must be written type:id`);
  const type = text.slice(0, colon);
  const id = text.slice(colon + 1);
  if (!TYPE_NAME.test(type)) throw new LineError(`${role} type "${type}" is not a type name`);
  if (!ID_PATTERN.test(id)) {
    throw new LineError(`${role} id "${id}" must match ${ID_PATTERN.source}`);
  }
  return { type, id };
}

/** `type:id` and `type:id#relation` pieces, e.g. from NDJSON or CSV fields. */
export function fromParts(resource: string, relation: string, subject: string): RelationshipTuple {
  const res = object(resource, 'resource');
  if (!RELATION_NAME.test(relation)) {
    throw new LineError(`relation "${relation}" is not a relation name`);
  }
  const hash = subject.indexOf('#');
  const subjectObject = object(hash < 0 ? subject : subject.slice(0, hash), 'subject');
  const tuple: RelationshipTuple = {
    resourceType: res.type,
    resourceId: res.id,
    relation,
    subjectType: subjectObject.type,
    subjectId: subjectObject.id,
  };
  if (hash >= 0) {
    const subjectRelation = subject.slice(hash + 1);
    if (!RELATION_NAME.test(subjectRelation)) {
      throw new LineError(`subject relation "${subjectRelation}" is not a relation name`);
    }
    tuple.subjectRelation = subjectRelation;
  }
  return tuple;
}

/** zed's notation: `project:p1#admin@user:alice` (caveats and expirations are not supported). */
export function parseZed(text: string): RelationshipTuple {
  if (text.includes('[')) {
    throw new LineError('caveats and expirations ([...]) are not supported by this schema');
  }
  const at = text.indexOf('@');
  if (at < 0) throw new LineError(`"${text}" must be written resource:id#relation@subject:id`);
  const left = text.slice(0, at);
  const hash = left.lastIndexOf('#');
  if (hash < 0) throw new LineError(`"${left}" lacks #relation`);
  return fromParts(left.slice(0, hash), left.slice(hash + 1), text.slice(at + 1));
}

/** The identity of a relationship, for de-duplication and set comparisons. */
export const relationshipKey = formatTuple;

/** Checks one relationship against schema.zed; throws a LineError naming what does not fit. */
export function checkAgainstSchema(rules: SchemaRules, t: RelationshipTuple): void {
  const definition = rules.get(t.resourceType);
  if (!definition) {
    throw new LineError(
      `unknown resource type "${t.resourceType}" (schema.zed defines ${[...rules.keys()].join(', ')})`,
    );
  }
  const allowed = definition.relations.get(t.relation);
  if (!allowed) {
    const what = definition.permissions.has(t.relation)
      ? `"${t.relation}" is a permission of ${t.resourceType}, not a relation`
      : `unknown relation "${t.relation}" on ${t.resourceType}`;
    throw new LineError(`${what} (relations: ${[...definition.relations.keys()].join(', ')})`);
  }
  if (!allowsSubject(rules, t.resourceType, t.relation, t.subjectType, t.subjectRelation)) {
    const subject = t.subjectRelation ? `${t.subjectType}#${t.subjectRelation}` : t.subjectType;
    throw new LineError(
      `${t.resourceType}#${t.relation} does not accept subject ${subject} (allowed: ${describeAllowed(allowed)})`,
    );
  }
  if (!rules.has(t.subjectType)) {
    throw new LineError(`unknown subject type "${t.subjectType}"`);
  }
}

/**
 * The service writes `project:P#organization@organization:O` together with its inverse
 * `organization:O#project@project:P` (external collaborators see the organization's name through
 * it), so an import does the same. Returns the inverse when the schema has that relation.
 */
export function derivedInverse(
  rules: SchemaRules,
  t: RelationshipTuple,
): RelationshipTuple | undefined {
  if (
    t.resourceType !== 'project' ||
    t.relation !== 'organization' ||
    t.subjectType !== 'organization' ||
    t.subjectRelation !== undefined ||
    !allowsSubject(rules, 'organization', 'project', 'project')
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
