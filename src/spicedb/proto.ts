import { v1 } from '@authzed/authzed-node';
import type { ReadConsistency } from './consistency.js';

export { v1 };

export interface RelationshipTuple {
  resourceType: string;
  resourceId: string;
  relation: string;
  subjectType: string;
  subjectId: string;
  subjectRelation?: string;
  /** RFC 3339 time at which SpiceDB stops counting the relationship (`use expiration`). */
  expiresAt?: string;
}

/** A protobuf Timestamp for an instant, and back (authzed-node does not export the helpers). */
const timestampOf = (iso: string): { seconds: string; nanos: number } => {
  const ms = Date.parse(iso);
  return { seconds: String(Math.floor(ms / 1000)), nanos: (((ms % 1000) + 1000) % 1000) * 1e6 };
};
const isoOf = (timestamp: { seconds: string; nanos: number }): string =>
  new Date(Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1e6)).toISOString();

export const objectReference = (objectType: string, objectId: string): v1.ObjectReference =>
  v1.ObjectReference.create({ objectType, objectId });

export const subjectReference = (
  objectType: string,
  objectId: string,
  optionalRelation = '',
): v1.SubjectReference =>
  v1.SubjectReference.create({ object: objectReference(objectType, objectId), optionalRelation });

export const relationship = (tuple: RelationshipTuple): v1.Relationship =>
  v1.Relationship.create({
    resource: objectReference(tuple.resourceType, tuple.resourceId),
    relation: tuple.relation,
    subject: subjectReference(tuple.subjectType, tuple.subjectId, tuple.subjectRelation ?? ''),
    ...(tuple.expiresAt !== undefined ? { optionalExpiresAt: timestampOf(tuple.expiresAt) } : {}),
  });

export const tupleOf = (rel: v1.Relationship): RelationshipTuple => {
  const tuple: RelationshipTuple = {
    resourceType: rel.resource?.objectType ?? '',
    resourceId: rel.resource?.objectId ?? '',
    relation: rel.relation,
    subjectType: rel.subject?.object?.objectType ?? '',
    subjectId: rel.subject?.object?.objectId ?? '',
  };
  const subjectRelation = rel.subject?.optionalRelation;
  if (subjectRelation) tuple.subjectRelation = subjectRelation;
  if (rel.optionalExpiresAt) tuple.expiresAt = isoOf(rel.optionalExpiresAt);
  return tuple;
};

/** zed's notation, with `[expiration:...]` when the relationship expires. */
export const formatTuple = (t: RelationshipTuple): string =>
  `${t.resourceType}:${t.resourceId}#${t.relation}@${t.subjectType}:${t.subjectId}${
    t.subjectRelation ? `#${t.subjectRelation}` : ''
  }${t.expiresAt !== undefined ? `[expiration:${t.expiresAt}]` : ''}`;

export const touch = (tuple: RelationshipTuple): v1.RelationshipUpdate =>
  v1.RelationshipUpdate.create({
    operation: v1.RelationshipUpdate_Operation.TOUCH,
    relationship: relationship(tuple),
  });

export const create = (tuple: RelationshipTuple): v1.RelationshipUpdate =>
  v1.RelationshipUpdate.create({
    operation: v1.RelationshipUpdate_Operation.CREATE,
    relationship: relationship(tuple),
  });

/** A delete names the relationship alone: its expiration is not part of what it is. */
export const remove = ({
  expiresAt: _expiresAt,
  ...tuple
}: RelationshipTuple): v1.RelationshipUpdate =>
  v1.RelationshipUpdate.create({
    operation: v1.RelationshipUpdate_Operation.DELETE,
    relationship: relationship(tuple),
  });

export interface FilterSpec {
  resourceType: string;
  resourceId?: string;
  relation?: string;
  subjectType?: string;
  subjectId?: string;
}

export const relationshipFilter = (spec: FilterSpec): v1.RelationshipFilter =>
  v1.RelationshipFilter.create({
    resourceType: spec.resourceType,
    optionalResourceId: spec.resourceId ?? '',
    optionalRelation: spec.relation ?? '',
    ...(spec.subjectType !== undefined
      ? {
          optionalSubjectFilter: v1.SubjectFilter.create({
            subjectType: spec.subjectType,
            optionalSubjectId: spec.subjectId ?? '',
          }),
        }
      : {}),
  });

export const mustMatch = (spec: FilterSpec): v1.Precondition =>
  v1.Precondition.create({
    operation: v1.Precondition_Operation.MUST_MATCH,
    filter: relationshipFilter(spec),
  });

export const mustNotMatch = (spec: FilterSpec): v1.Precondition =>
  v1.Precondition.create({
    operation: v1.Precondition_Operation.MUST_NOT_MATCH,
    filter: relationshipFilter(spec),
  });

export function consistencyOf(read: ReadConsistency): v1.Consistency {
  switch (read.kind) {
    case 'fullyConsistent':
      return v1.Consistency.create({
        requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true },
      });
    case 'atLeastAsFresh':
      return v1.Consistency.create({
        requirement: { oneofKind: 'atLeastAsFresh', atLeastAsFresh: { token: read.token } },
      });
    case 'minimizeLatency':
      return v1.Consistency.create({
        requirement: { oneofKind: 'minimizeLatency', minimizeLatency: true },
      });
  }
}
