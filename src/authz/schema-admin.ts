import { status as GrpcStatus } from '@grpc/grpc-js';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import type { v1 } from '../spicedb/proto.js';

/**
 * Schema administration by SpiceDB's own judgement: DiffSchema says what differs (start-up and
 * `authz schema diff`), WriteSchema says what it refuses (a change that would orphan stored
 * relationships). Nothing here reads schema text.
 */

function subjectTypeText(type: v1.ReflectionTypeReference | undefined): string {
  if (type === undefined) return '?';
  const ref = type.typeref;
  const base =
    ref.oneofKind === 'optionalRelationName'
      ? `${type.subjectDefinitionName}#${ref.optionalRelationName}`
      : ref.oneofKind === 'isPublicWildcard'
        ? `${type.subjectDefinitionName}:*`
        : type.subjectDefinitionName;
  return type.optionalCaveatName ? `${base} with ${type.optionalCaveatName}` : base;
}

const relationName = (relation: { parentDefinitionName: string; name: string } | undefined) =>
  `${relation?.parentDefinitionName ?? '?'}#${relation?.name ?? '?'}`;

/** One line per difference: `+` in the wanted schema only, `-` in SpiceDB's only, `~` changed. */
export function describeSchemaDiff(diff: v1.ReflectionSchemaDiff): string {
  const d = diff.diff;
  switch (d.oneofKind) {
    case 'definitionAdded':
      return `+ definition ${d.definitionAdded.name}`;
    case 'definitionRemoved':
      return `- definition ${d.definitionRemoved.name}`;
    case 'definitionDocCommentChanged':
      return `~ definition ${d.definitionDocCommentChanged.name}: doc comment`;
    case 'relationAdded':
      return `+ relation ${relationName(d.relationAdded)}`;
    case 'relationRemoved':
      return `- relation ${relationName(d.relationRemoved)}`;
    case 'relationDocCommentChanged':
      return `~ relation ${relationName(d.relationDocCommentChanged)}: doc comment`;
    case 'relationSubjectTypeAdded':
      return `+ relation ${relationName(d.relationSubjectTypeAdded.relation)} allows ${subjectTypeText(d.relationSubjectTypeAdded.changedSubjectType)}`;
    case 'relationSubjectTypeRemoved':
      return `- relation ${relationName(d.relationSubjectTypeRemoved.relation)} allows ${subjectTypeText(d.relationSubjectTypeRemoved.changedSubjectType)}`;
    case 'permissionAdded':
      return `+ permission ${relationName(d.permissionAdded)}`;
    case 'permissionRemoved':
      return `- permission ${relationName(d.permissionRemoved)}`;
    case 'permissionDocCommentChanged':
      return `~ permission ${relationName(d.permissionDocCommentChanged)}: doc comment`;
    case 'permissionExprChanged':
      return `~ permission ${relationName(d.permissionExprChanged)}: expression`;
    case 'caveatAdded':
      return `+ caveat ${d.caveatAdded.name}`;
    case 'caveatRemoved':
      return `- caveat ${d.caveatRemoved.name}`;
    case 'caveatDocCommentChanged':
      return `~ caveat ${d.caveatDocCommentChanged.name}: doc comment`;
    case 'caveatExprChanged':
      return `~ caveat ${d.caveatExprChanged.name}: expression`;
    case 'caveatParameterAdded':
      return `+ caveat ${d.caveatParameterAdded.parentCaveatName} parameter ${d.caveatParameterAdded.name}`;
    case 'caveatParameterRemoved':
      return `- caveat ${d.caveatParameterRemoved.parentCaveatName} parameter ${d.caveatParameterRemoved.name}`;
    case 'caveatParameterTypeChanged': {
      const change = d.caveatParameterTypeChanged;
      return `~ caveat ${change.parameter?.parentCaveatName ?? '?'} parameter ${change.parameter?.name ?? '?'}: type ${change.previousType} -> ${change.parameter?.type ?? '?'}`;
    }
    default:
      return '~ (a difference this client does not name)';
  }
}

/**
 * `wanted` against the schema SpiceDB holds, as SpiceDB's DiffSchema compares them: one line per
 * difference, none when SpiceDB holds the same (an empty SpiceDB: every definition is added).
 */
export async function compareSchema(gateway: SpiceDbGateway, wanted: string): Promise<string[]> {
  return (await gateway.diffSchema(wanted)).map(describeSchemaDiff);
}

/** SpiceDB refused a schema write; `message` is SpiceDB's (e.g. which relationships it would orphan). */
export class SchemaWriteRefused extends Error {
  constructor(
    readonly spicedbMessage: string,
    options?: ErrorOptions,
  ) {
    super(`SpiceDB refused the schema: ${spicedbMessage}`, options);
    this.name = 'SchemaWriteRefused';
  }
}

/**
 * WriteSchema. SpiceDB refuses a change that would orphan stored relationships (a removed
 * relation or subject type that relationships still use) and names them: that refusal becomes
 * SchemaWriteRefused with SpiceDB's message.
 */
export async function writeSchema(gateway: SpiceDbGateway, schema: string): Promise<void> {
  try {
    await gateway.writeSchema(schema);
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code === GrpcStatus.FAILED_PRECONDITION || code === GrpcStatus.INVALID_ARGUMENT) {
      const details = (error as { details?: string }).details;
      throw new SchemaWriteRefused(details ?? String(error), { cause: error });
    }
    throw error;
  }
}

/** Start-up: writes `wanted` only when SpiceDB's DiffSchema says it differs. */
export async function ensureSchema(
  gateway: SpiceDbGateway,
  wanted: string,
): Promise<'written' | 'unchanged'> {
  if ((await compareSchema(gateway, wanted)).length === 0) return 'unchanged';
  await writeSchema(gateway, wanted);
  return 'written';
}
