import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { ReadConsistency } from '../spicedb/consistency.js';
import type { CheckItem, SpiceDbGateway } from '../spicedb/gateway.js';
import { formatTuple, touch, type RelationshipTuple } from '../spicedb/proto.js';
import { expandPermission, foundSubjects } from './explain.js';

/**
 * SpiceDB's playground / validation file (what play.authzed.com imports and `zed validate`
 * runs): `schema`, `relationships` (one a line, zed notation), `assertions` (`assertTrue`,
 * `assertFalse`) and `validation` (every subject expected to hold `type:id#permission`, each
 * written `[subject] is <type:id#relation>/...` with the stored relations it is found in).
 */
export interface PlaygroundFile {
  schema: string;
  relationships: RelationshipTuple[];
  assertions: { assertTrue: string[]; assertFalse: string[] };
  validation: Array<{ resource: string; subjects: string[] }>;
}

// ---------------------------------------------------------------------------------------------
// writing

/** A YAML single-quoted scalar (the style prettier keeps, so the checked-in file stays as generated). */
const quoted = (value: string): string => `'${value.replace(/'/g, "''")}'`;

function blockScalar(key: string, text: string): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return `${key}: |-\n${lines.map((l) => (l.trim() === '' ? '' : `  ${l.replace(/\s+$/, '')}`)).join('\n')}\n`;
}

/** Renders a playground file; the order of everything is the caller's (keep it sorted). */
export function renderPlaygroundFile(file: PlaygroundFile, header: string[] = []): string {
  const parts: string[] = [];
  if (header.length > 0) parts.push(header.map((h) => `# ${h}`.trimEnd()).join('\n') + '\n');
  parts.push(blockScalar('schema', file.schema));
  parts.push(blockScalar('relationships', file.relationships.map(formatTuple).join('\n')));
  const list = (items: string[], indent: string) =>
    items.length === 0 ? ' []\n' : `\n${items.map((i) => `${indent}- ${quoted(i)}`).join('\n')}\n`;
  parts.push(
    `assertions:\n  assertTrue:${list(file.assertions.assertTrue, '    ')}` +
      `  assertFalse:${list(file.assertions.assertFalse, '    ')}`,
  );
  parts.push(
    file.validation.length === 0
      ? 'validation: {}\n'
      : `validation:\n${file.validation
          .map((entry) => `  ${entry.resource}:${list(entry.subjects, '    ')}`)
          .join('')}`,
  );
  return parts.join('');
}

/** `[user:bob] is <project:p1#admin>/<organization:acme#owner>` with its relations sorted. */
export function expectedSubjectString(subject: string, relations: Iterable<string>): string {
  const wrapped = [...relations].map((r) => `<${r}>`).sort();
  return `[${subject}] is ${wrapped.join('/')}`;
}

// ---------------------------------------------------------------------------------------------
// reading

const RELATIONSHIP_PATTERN =
  /^([a-z][\w/]*):([^#@\s]+)#(\w+)@([a-z][\w/]*):([^#@\s]+)(?:#(\w+|\.\.\.))?$/;

/** Parses `type:id#relation@type:id[#relation]`; caveats and expirations are not supported. */
export function parseRelationship(text: string): RelationshipTuple | { error: string } {
  const match = RELATIONSHIP_PATTERN.exec(text.trim());
  if (match === null) {
    return { error: `"${text.trim()}" is not a relationship (type:id#relation@type:id)` };
  }
  const [, resourceType = '', resourceId = '', relation = '', subjectType = '', subjectId = ''] =
    match;
  const tuple: RelationshipTuple = { resourceType, resourceId, relation, subjectType, subjectId };
  if (match[6] !== undefined && match[6] !== '...') tuple.subjectRelation = match[6];
  return tuple;
}

export interface Located<T> {
  value: T;
  line: number;
}

export interface ParsedPlaygroundFile {
  schema: Located<string>;
  relationships: Array<Located<RelationshipTuple>>;
  assertTrue: Array<Located<string>>;
  assertFalse: Array<Located<string>>;
  validation: Array<{ resource: Located<string>; subjects: Array<Located<string>> }>;
  /** Problems of the file itself (not of what SpiceDB computes), with their lines. */
  problems: Array<{ line: number; message: string }>;
}

/** Parses a playground file keeping the line (1-based) every item comes from. */
export function parsePlaygroundFile(text: string): ParsedPlaygroundFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, keepSourceTokens: true });
  const lineOf = (node: Node | null | undefined): number =>
    node?.range ? lineCounter.linePos(node.range[0]).line : 1;
  const result: ParsedPlaygroundFile = {
    schema: { value: '', line: 1 },
    relationships: [],
    assertTrue: [],
    assertFalse: [],
    validation: [],
    problems: doc.errors.map((e) => ({
      line: e.linePos?.[0].line ?? 1,
      message: `YAML: ${e.message.split('\n')[0] ?? ''}`,
    })),
  };
  if (!isMap(doc.contents)) {
    if (result.problems.length === 0) {
      result.problems.push({ line: 1, message: 'a playground file is a YAML mapping' });
    }
    return result;
  }
  const root = doc.contents;

  const schema = root.get('schema', true);
  if (isScalar(schema) && typeof schema.value === 'string') {
    result.schema = { value: schema.value, line: lineOf(schema) };
  } else {
    result.problems.push({ line: lineOf(schema ?? root), message: 'schema: missing' });
  }

  const relationships: unknown = root.get('relationships', true);
  if (isScalar(relationships) && typeof relationships.value === 'string') {
    const lines = String(relationships.value).split('\n');
    // A block scalar's text starts on the line after its `|` header.
    const block = relationships.type === 'BLOCK_LITERAL' || relationships.type === 'BLOCK_FOLDED';
    const first = lineOf(relationships) + (block ? 1 : 0);
    lines.forEach((raw, index) => {
      const text = raw.trim();
      if (text === '' || text.startsWith('//')) return;
      const parsed = parseRelationship(text);
      if ('error' in parsed) result.problems.push({ line: first + index, message: parsed.error });
      else result.relationships.push({ value: parsed, line: first + index });
    });
  } else if (
    relationships !== undefined &&
    !(isScalar(relationships) && relationships.value === null)
  ) {
    result.problems.push({
      line: lineOf(relationships as Node),
      message: 'relationships: must be text',
    });
  }

  const assertions = root.get('assertions', true);
  if (isMap(assertions)) {
    for (const key of ['assertTrue', 'assertFalse'] as const) {
      const list = assertions.get(key, true);
      if (list === undefined || (isScalar(list) && list.value === null)) continue;
      if (!isSeq(list)) {
        result.problems.push({ line: lineOf(list), message: `assertions.${key}: must be a list` });
        continue;
      }
      for (const item of list.items) {
        if (isScalar(item) && typeof item.value === 'string') {
          result[key].push({ value: item.value, line: lineOf(item) });
        } else {
          result.problems.push({
            line: lineOf(item as Node),
            message: `assertions.${key}: not a string`,
          });
        }
      }
    }
  }

  const validation = root.get('validation', true);
  if (isMap(validation)) {
    for (const pair of validation.items) {
      const key = pair.key as Node;
      const resource = isScalar(key) ? String(key.value) : '';
      const entry = {
        resource: { value: resource, line: lineOf(key) },
        subjects: [] as Array<Located<string>>,
      };
      if (isSeq(pair.value)) {
        for (const item of pair.value.items) {
          if (isScalar(item) && typeof item.value === 'string') {
            entry.subjects.push({ value: item.value, line: lineOf(item) });
          } else {
            result.problems.push({
              line: lineOf(item as Node),
              message: `validation.${resource}: not a string`,
            });
          }
        }
      } else if (!(isScalar(pair.value) && pair.value.value === null)) {
        result.problems.push({
          line: lineOf(key),
          message: `validation.${resource}: must be a list`,
        });
      }
      result.validation.push(entry);
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// loading and running

const WRITE_CHUNK = 500;
const CHECK_CHUNK = 500;

/**
 * Writes the file's schema and relationships. A chunk SpiceDB refuses is retried one
 * relationship at a time so every refused line is named.
 */
export async function loadPlaygroundFile(
  gateway: SpiceDbGateway,
  file: ParsedPlaygroundFile,
): Promise<{ token: string; problems: Array<{ line: number; message: string }> }> {
  const problems: Array<{ line: number; message: string }> = [];
  try {
    await gateway.writeSchema(file.schema.value);
  } catch (error) {
    return {
      token: '',
      problems: [{ line: file.schema.line, message: `schema: ${messageOf(error)}` }],
    };
  }
  let token = '';
  for (let start = 0; start < file.relationships.length; start += WRITE_CHUNK) {
    const chunk = file.relationships.slice(start, start + WRITE_CHUNK);
    try {
      token = await gateway.write(chunk.map((r) => touch(r.value)));
    } catch {
      for (const r of chunk) {
        try {
          token = await gateway.write([touch(r.value)]);
        } catch (error) {
          problems.push({ line: r.line, message: `${formatTuple(r.value)}: ${messageOf(error)}` });
        }
      }
    }
  }
  return { token, problems };
}

function messageOf(error: unknown): string {
  const details = (error as { details?: unknown }).details;
  if (typeof details === 'string' && details) return details;
  return error instanceof Error ? error.message : String(error);
}

const ASSERTION_PATTERN = /^([a-z][\w/]*):([^#@\s]+)#(\w+)@([a-z][\w/]*):([^#@\s]+)$/;

function assertionItem(text: string): CheckItem | undefined {
  const match = ASSERTION_PATTERN.exec(text.trim());
  if (match === null) return undefined;
  const [, resourceType = '', resourceId = '', permission = '', subjectType = '', subjectId = ''] =
    match;
  return {
    resource: { type: resourceType, id: resourceId },
    permission,
    subject: { type: subjectType, id: subjectId },
  };
}

export interface ValidationReport {
  failures: Array<{ line: number; message: string }>;
  assertions: number;
  expectedEntries: number;
  expectedSubjects: number;
}

/** Runs every assertion and compares every expected-relations entry to what SpiceDB computes. */
export async function runPlaygroundChecks(
  gateway: SpiceDbGateway,
  file: ParsedPlaygroundFile,
  consistency: ReadConsistency,
): Promise<ValidationReport> {
  const failures: Array<{ line: number; message: string }> = [];
  const asserted = [
    ...file.assertTrue.map((a) => ({ ...a, expected: true })),
    ...file.assertFalse.map((a) => ({ ...a, expected: false })),
  ];
  const runnable: Array<{ item: CheckItem; line: number; expected: boolean; text: string }> = [];
  for (const a of asserted) {
    const item = assertionItem(a.value);
    if (item === undefined) {
      failures.push({
        line: a.line,
        message: `"${a.value}" is not an assertion (type:id#permission@type:id)`,
      });
    } else {
      runnable.push({ item, line: a.line, expected: a.expected, text: a.value.trim() });
    }
  }
  for (let start = 0; start < runnable.length; start += CHECK_CHUNK) {
    const chunk = runnable.slice(start, start + CHECK_CHUNK);
    const { results } = await gateway.checkBulk(
      chunk.map((c) => c.item),
      consistency,
    );
    chunk.forEach((c, index) => {
      const outcome = results[index];
      if (outcome === undefined || 'error' in outcome) {
        const error = outcome && 'error' in outcome ? messageOf(outcome.error) : 'no answer';
        failures.push({ line: c.line, message: `${c.text}: SpiceDB could not check it: ${error}` });
      } else if (outcome.allowed !== c.expected) {
        failures.push({
          line: c.line,
          message: c.expected
            ? `assertTrue failed: ${c.text} is not granted`
            : `assertFalse failed: ${c.text} is granted`,
        });
      }
    });
  }

  let expectedSubjects = 0;
  for (const entry of file.validation) {
    expectedSubjects += entry.subjects.length;
    failures.push(...(await compareExpectedRelations(gateway, entry, consistency)));
  }
  failures.sort((a, b) => a.line - b.line);
  return {
    failures,
    assertions: runnable.length,
    expectedEntries: file.validation.length,
    expectedSubjects,
  };
}

const EXPECTED_SUBJECT_PATTERN = /^\[([^\]]+)\](?:\s+is\s+(.*))?$/;
const ONR_PATTERN = /^([a-z][\w/]*):([^#@\s]+)#(\w+)$/;

/** Expected subjects, and the stored relations each is found in, as SpiceDB computes them. */
export async function computeExpectedRelations(
  gateway: SpiceDbGateway,
  resource: { type: string; id: string },
  permission: string,
  consistency: ReadConsistency,
): Promise<Map<string, Set<string>>> {
  return foundSubjects(await expandPermission(gateway, resource, permission, consistency));
}

async function compareExpectedRelations(
  gateway: SpiceDbGateway,
  entry: ParsedPlaygroundFile['validation'][number],
  consistency: ReadConsistency,
): Promise<Array<{ line: number; message: string }>> {
  const onr = ONR_PATTERN.exec(entry.resource.value);
  const key = entry.resource.value;
  if (onr === null) {
    return [{ line: entry.resource.line, message: `${key}: not written type:id#permission` }];
  }
  const [, type = '', id = '', permission = ''] = onr;
  let found: Map<string, Set<string>>;
  let lookedUp: string[];
  try {
    found = await computeExpectedRelations(gateway, { type, id }, permission, consistency);
    // LookupSubjects is the authoritative list of users; the expansion adds the relations.
    lookedUp = await gateway.lookupSubjects(
      { resource: { type, id }, permission, subjectType: 'user' },
      consistency,
    );
  } catch (error) {
    return [
      {
        line: entry.resource.line,
        message: `${key}: SpiceDB could not expand it: ${messageOf(error)}`,
      },
    ];
  }
  const failures: Array<{ line: number; message: string }> = [];
  const expandedUsers = [...found.keys()].filter((s) => s.startsWith('user:')).sort();
  const lookedUpUsers = lookedUp.map((u) => `user:${u}`).sort();
  if (expandedUsers.join() !== lookedUpUsers.join()) {
    failures.push({
      line: entry.resource.line,
      message: `${key}: LookupSubjects finds ${lookedUpUsers.join(', ') || 'nobody'} but the expansion ${expandedUsers.join(', ') || 'nobody'}`,
    });
  }
  const listed = new Set<string>();
  for (const subject of entry.subjects) {
    const match = EXPECTED_SUBJECT_PATTERN.exec(subject.value.trim());
    const name = match?.[1]?.trim();
    if (match === null || name === undefined) {
      failures.push({
        line: subject.line,
        message: `${key}: "${subject.value}" is not written [type:id] is <type:id#relation>`,
      });
      continue;
    }
    listed.add(name);
    const relations = found.get(name);
    if (relations === undefined) {
      failures.push({
        line: subject.line,
        message: `${key}: expected subject ${name} does not hold it`,
      });
      continue;
    }
    if (match[2] !== undefined) {
      const specified = [...match[2].matchAll(/<([^>]+)>/g)].map((m) => m[1] ?? '').sort();
      const computed = [...relations].sort();
      if (specified.join() !== computed.join()) {
        failures.push({
          line: subject.line,
          message: `${key}: ${name} is found through ${computed.map((r) => `<${r}>`).join('/')}, not ${specified.map((r) => `<${r}>`).join('/')}`,
        });
      }
    }
  }
  for (const subject of [...found.keys()].sort()) {
    if (!listed.has(subject)) {
      failures.push({
        line: entry.resource.line,
        message: `${key}: ${subject} holds it but is not listed`,
      });
    }
  }
  return failures;
}
