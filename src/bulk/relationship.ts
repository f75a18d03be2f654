import { formatTuple, isoOf, timestampOf, type RelationshipTuple } from '../spicedb/proto.js';

export type { RelationshipTuple };

/** A line that cannot be loaded; the message says why, without the line number. */
export class LineError extends Error {
  override name = 'LineError';
}

/*
 * SpiceDB's own relationship-string grammar, as SpiceDB v1.56.2 parses the relationships of a
 * validation file and of `zed relationship` arguments: pkg/tuple/parsing.go (`parserRegex`,
 * `Parse`, `ValidateResourceID`, `ValidateSubjectID`) in github.com/authzed/spicedb. The pieces
 * below are its expressions, unchanged; `#...` is its ellipsis (the subject itself), a caveat's
 * context is a JSON object, and an expiration is read with Go's time.RFC3339Nano layout.
 */
const NAMESPACE = '([a-z][a-z0-9_]{1,61}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]';
const RESOURCE_ID = '([a-zA-Z0-9/_|\\-=+]{1,})';
const SUBJECT_ID = '([a-zA-Z0-9/_|\\-=+]{1,})|\\*';
const RELATION = '[a-z][a-z0-9_]{1,62}[a-z0-9]';
const CAVEAT_NAME = NAMESPACE;
const ONR = `(?<resourceType>(${NAMESPACE})):(?<resourceID>${RESOURCE_ID})#(?<resourceRel>${RELATION})`;
const SUBJECT = `(?<subjectType>(${NAMESPACE})):(?<subjectID>${SUBJECT_ID})(#(?<subjectRel>${RELATION}|\\.\\.\\.))?`;
const CAVEAT = `\\[(?<caveatName>(${CAVEAT_NAME}))(:(?<caveatContext>(\\{(.+)\\})))?\\]`;
const EXPIRATION = '\\[expiration:(?<expirationDateTime>([\\d\\-\\.:TZ]+))\\]';
const PARSER = new RegExp(`^${ONR}@${SUBJECT}(${CAVEAT})?(${EXPIRATION})?$`);
const RESOURCE_ID_RE = new RegExp(`^${RESOURCE_ID}$`);
const SUBJECT_ID_RE = new RegExp(`^(${SUBJECT_ID})$`);
const NAMESPACE_RE = new RegExp(`^${NAMESPACE}$`);
const RELATION_RE = new RegExp(`^${RELATION}$`);
const MAX_ID = 1024;

/**
 * Go's time.Parse(time.RFC3339Nano, s) on what the grammar lets through: a date and time, an
 * optional fraction of 1 to 9 digits, `Z` or a numeric offset; each field in its range.
 */
function expirationOf(text: string): string {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/.exec(
      text,
    );
  const [year, month, day, hour, minute, second] = (m?.slice(1, 7) ?? []).map(Number);
  const daysIn = (y: number, mo: number) => new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (
    !m ||
    year === undefined ||
    month === undefined ||
    day === undefined ||
    hour === undefined ||
    minute === undefined ||
    second === undefined ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysIn(year, month) ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59))
  ) {
    throw new LineError(
      `invalid expiration time "${text}": it must be RFC 3339, e.g. 2030-01-31T00:00:00Z`,
    );
  }
  // one spelling of the instant, the one an export writes
  return isoOf(timestampOf(text));
}

/** Why a line the grammar refuses is refused, named as far as its pieces can be told apart. */
function diagnose(text: string): string {
  const at = text.indexOf('@');
  if (at < 0) return `"${text}" must be written resource:id#relation@subject:id`;
  const left = text.slice(0, at);
  const hash = left.lastIndexOf('#');
  if (hash < 0) return `"${left}" lacks #relation`;
  const resource = left.slice(0, hash);
  const relation = left.slice(hash + 1);
  const subject = /^[^[]*/.exec(text.slice(at + 1))?.[0] ?? '';
  const suffix = text.slice(at + 1 + subject.length);
  const objectProblem = (value: string, role: 'resource' | 'subject') => {
    const colon = value.indexOf(':');
    if (colon < 0) return `${role} "${value}" must be written type:id`;
    const type = value.slice(0, colon);
    const id = value.slice(colon + 1);
    if (!NAMESPACE_RE.test(type)) return `${role} type "${type}" is not a type name`;
    const idRe = role === 'resource' ? RESOURCE_ID_RE : SUBJECT_ID_RE;
    if (!idRe.test(id)) return `${role} id "${id}" must match ${idRe.source}`;
    return undefined;
  };
  const subjectHash = subject.indexOf('#');
  const subjectRelation = subjectHash < 0 ? undefined : subject.slice(subjectHash + 1);
  return (
    objectProblem(resource, 'resource') ??
    (RELATION_RE.test(relation) ? undefined : `relation "${relation}" is not a relation name`) ??
    objectProblem(subjectHash < 0 ? subject : subject.slice(0, subjectHash), 'subject') ??
    (subjectRelation === undefined || subjectRelation === '...' || RELATION_RE.test(subjectRelation)
      ? undefined
      : `subject relation "${subjectRelation}" is not a relation name`) ??
    (suffix !== ''
      ? `"${suffix}" is neither [caveat] nor [caveat:{json}] nor [expiration:RFC3339], in that order`
      : `"${text}" is not a relationship in SpiceDB's notation`)
  );
}

/**
 * One relationship in zed's notation, as SpiceDB reads it:
 * `resource:id#relation@subject:id(#relation|#...)?([caveat(:{json})?])?([expiration:RFC3339])?`.
 */
export function parseRelationship(text: string): RelationshipTuple {
  const groups = PARSER.exec(text)?.groups;
  if (!groups) throw new LineError(diagnose(text));
  const g = (name: string) => groups[name] ?? '';
  const tuple: RelationshipTuple = {
    resourceType: g('resourceType'),
    resourceId: g('resourceID'),
    relation: g('resourceRel'),
    subjectType: g('subjectType'),
    subjectId: g('subjectID'),
  };
  if (g('subjectRel') !== '' && g('subjectRel') !== '...') tuple.subjectRelation = g('subjectRel');
  if (g('caveatName') !== '') {
    tuple.caveat = { name: g('caveatName') };
    if (g('caveatContext') !== '') {
      let context: unknown;
      try {
        context = JSON.parse(g('caveatContext'));
      } catch {
        throw new LineError(`invalid caveat context JSON ${g('caveatContext')}`);
      }
      if (typeof context !== 'object' || context === null || Array.isArray(context)) {
        throw new LineError(`caveat context ${g('caveatContext')} must be a JSON object`);
      }
      // `{ }` is an empty context: SpiceDB stores none
      if (Object.keys(context).length > 0)
        tuple.caveat.context = context as Record<string, unknown>;
    }
  }
  if (g('expirationDateTime') !== '') tuple.expiresAt = expirationOf(g('expirationDateTime'));
  if (tuple.resourceId.length > MAX_ID)
    throw new LineError('resource id must be <= 1024 characters');
  if (tuple.subjectId.length > MAX_ID) throw new LineError('subject id must be <= 1024 characters');
  return tuple;
}

/**
 * `type:id`, the relation and the subject with its optional suffix (`user:a#...`,
 * `user:a[expiration:...]`), e.g. from NDJSON or CSV fields: the same grammar as a zed line.
 */
export function fromParts(resource: string, relation: string, subject: string): RelationshipTuple {
  return parseRelationship(`${resource}#${relation}@${subject}`);
}

/** The subject of a relationship with its suffix, as the CSV and NDJSON `subject` field holds it. */
export function subjectText(t: RelationshipTuple): string {
  const line = formatTuple(t);
  return line.slice(line.indexOf('@') + 1);
}

/**
 * The identity of a relationship, for de-duplication: as SpiceDB's, without its caveat or its
 * expiration (two updates of one relationship in one write are refused as duplicates).
 */
export const relationshipKey = (t: RelationshipTuple): string => formatTuple(identityOf(t));

/** The relationship alone, without its caveat or expiration (what a delete names). */
export const identityOf = ({
  expiresAt: _expiresAt,
  caveat: _caveat,
  ...t
}: RelationshipTuple): RelationshipTuple => t;
