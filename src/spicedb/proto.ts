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
  /** The caveat the relationship carries (`[name:{context}]`), with its stored context. */
  caveat?: RelationshipCaveat;
}

export interface RelationshipCaveat {
  name: string;
  context?: Record<string, unknown>;
}

/**
 * A protobuf Timestamp for an instant, and back (authzed-node does not export the helpers). The
 * fraction's digits are kept to the nanosecond, as SpiceDB's RFC3339Nano keeps them.
 */
export const timestampOf = (iso: string): { seconds: string; nanos: number } => {
  const fraction = /\.(\d{1,9})/.exec(iso)?.[1];
  const ms = Date.parse(iso.replace(/\.\d+/, ''));
  return {
    seconds: String(Math.floor(ms / 1000)),
    nanos: fraction === undefined ? 0 : Number(fraction.padEnd(9, '0')),
  };
};
/**
 * RFC 3339 in UTC: milliseconds as toISOString writes them, or all nine digits when the instant
 * has a finer part (SpiceDB keeps nanoseconds), so an export reads back to the same instant.
 */
export const isoOf = (timestamp: { seconds: string; nanos: number }): string => {
  const iso = new Date(
    Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1e6),
  ).toISOString();
  return timestamp.nanos % 1e6 === 0
    ? iso
    : `${iso.slice(0, 19)}.${String(timestamp.nanos).padStart(9, '0')}Z`;
};

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
    ...(tuple.caveat !== undefined ? { optionalCaveat: caveatOf(tuple.caveat) } : {}),
  });

export const caveatOf = (caveat: RelationshipCaveat): v1.ContextualizedCaveat => ({
  caveatName: caveat.name,
  ...(caveat.context !== undefined
    ? {
        context: v1.PbStruct.fromJson(caveat.context as Parameters<typeof v1.PbStruct.fromJson>[0]),
      }
    : {}),
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
  const caveat = rel.optionalCaveat;
  if (caveat?.caveatName) {
    const context = caveat.context ? v1.PbStruct.toJson(caveat.context) : undefined;
    tuple.caveat =
      context && typeof context === 'object' && Object.keys(context).length > 0
        ? { name: caveat.caveatName, context: context as Record<string, unknown> }
        : { name: caveat.caveatName };
  }
  return tuple;
};

/** The `[caveat:{context}][expiration:...]` suffix of zed's notation (SpiceDB's pkg/tuple order). */
export const formatSuffix = (t: RelationshipTuple): string =>
  `${
    t.caveat === undefined
      ? ''
      : `[${t.caveat.name}${t.caveat.context !== undefined ? `:${JSON.stringify(t.caveat.context)}` : ''}]`
  }${t.expiresAt !== undefined ? `[expiration:${t.expiresAt}]` : ''}`;

/** zed's notation, with the caveat and the expiration when the relationship carries them. */
export const formatTuple = (t: RelationshipTuple): string =>
  `${t.resourceType}:${t.resourceId}#${t.relation}@${t.subjectType}:${t.subjectId}${
    t.subjectRelation ? `#${t.subjectRelation}` : ''
  }${formatSuffix(t)}`;

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
  caveat: _caveat,
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
