import { createReadStream } from 'node:fs';
import path from 'node:path';
import { formatSuffix, formatTuple } from '../spicedb/proto.js';
import {
  fromParts,
  identityOf,
  LineError,
  parseRelationship,
  subjectText,
  type RelationshipTuple,
} from './relationship.js';
import { yamlRecords } from './yaml-relationships.js';

export type BulkFormat = 'zed' | 'ndjson' | 'csv' | 'yaml';

const EXTENSIONS: Record<string, BulkFormat> = {
  '.txt': 'zed',
  '.zed': 'zed',
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.csv': 'csv',
  '.yaml': 'yaml',
  '.yml': 'yaml',
};

export class FormatError extends Error {
  override name = 'FormatError';
}

export function formatOf(file: string): BulkFormat {
  const format = EXTENSIONS[path.extname(file).toLowerCase()];
  if (!format) {
    throw new FormatError(
      `cannot tell the format of ${file}: use one of ${Object.keys(EXTENSIONS).join(', ')}`,
    );
  }
  return format;
}

export interface RawLine {
  /** 1-based line number in the file */
  line: number;
  text: string;
}

/**
 * The file's lines in arrays (one array per read chunk, so the caller awaits once per chunk,
 * not once per line). Memory holds one chunk and the partial line at its end.
 */
export async function* readLines(file: string): AsyncGenerator<RawLine[]> {
  let carry: Buffer[] = [];
  let line = 0;
  const stream = createReadStream(file, { highWaterMark: 1 << 16 });
  const text = (data: Buffer, start: number, end: number) =>
    data.toString('utf8', start, end > start && data[end - 1] === 0x0d ? end - 1 : end);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const lines: RawLine[] = [];
    let start = 0;
    let newline = chunk.indexOf(0x0a);
    if (newline >= 0 && carry.length > 0) {
      // only the line that straddles two chunks is copied
      const joined = Buffer.concat([...carry, chunk.subarray(0, newline)]);
      lines.push({ line: ++line, text: text(joined, 0, joined.length) });
      carry = [];
      start = newline + 1;
      newline = chunk.indexOf(0x0a, start);
    }
    while (newline >= 0) {
      lines.push({ line: ++line, text: text(chunk, start, newline) });
      start = newline + 1;
      newline = chunk.indexOf(0x0a, start);
    }
    if (start < chunk.length) carry.push(chunk.subarray(start));
    if (lines.length > 0) yield lines;
  }
  if (carry.length > 0) {
    const rest = Buffer.concat(carry);
    if (rest.length > 0) yield [{ line: line + 1, text: text(rest, 0, rest.length) }];
  }
}

export type ParsedRecord =
  { line: number; relationship: RelationshipTuple } | { line: number; error: string };

const isComment = (text: string) => text.startsWith('//') || text.startsWith('#');

function csvFields(text: string): string[] {
  const fields: string[] = [];
  let index = 0;
  while (index <= text.length) {
    if (text[index] === '"') {
      let value = '';
      index += 1;
      while (index < text.length) {
        if (text[index] === '"' && text[index + 1] === '"') {
          value += '"';
          index += 2;
        } else if (text[index] === '"') {
          index += 1;
          break;
        } else {
          value += text[index];
          index += 1;
        }
      }
      fields.push(value);
      index = text.indexOf(',', index);
      if (index < 0) break;
      index += 1;
    } else {
      const comma = text.indexOf(',', index);
      fields.push(text.slice(index, comma < 0 ? text.length : comma).trim());
      if (comma < 0) break;
      index = comma + 1;
    }
  }
  return fields;
}

const NDJSON_KEYS = ['resource', 'relation', 'subject', 'caveat', 'expiresAt'] as const;

/**
 * `{"resource","relation","subject"}`, with `"caveat": {"name","context"?}` and `"expiresAt"`
 * when the relationship carries them: read as the zed line they spell, by the one grammar.
 */
function parseNdjson(text: string): RelationshipTuple {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new LineError('is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LineError('must be a JSON object {"resource","relation","subject"}');
  }
  const record = value as Record<string, unknown>;
  const extra = Object.keys(record).filter((k) => !(NDJSON_KEYS as readonly string[]).includes(k));
  if (extra.length > 0) throw new LineError(`unexpected field(s) ${extra.join(', ')}`);
  const [resource, relation, subject] = NDJSON_KEYS.slice(0, 3).map((key) => {
    const field = record[key];
    if (typeof field !== 'string') throw new LineError(`field "${key}" must be a string`);
    return field;
  });
  const extras: Pick<RelationshipTuple, 'caveat' | 'expiresAt'> = {};
  const { caveat, expiresAt } = record;
  if (caveat !== undefined) {
    const { name, context } =
      typeof caveat === 'object' && caveat !== null ? (caveat as Record<string, unknown>) : {};
    if (typeof name !== 'string') {
      throw new LineError('field "caveat" must be {"name": string, "context"?: object}');
    }
    extras.caveat = {
      name,
      ...(context !== undefined ? { context: context as Record<string, unknown> } : {}),
    };
  }
  if (expiresAt !== undefined) {
    if (typeof expiresAt !== 'string') throw new LineError('field "expiresAt" must be a string');
    extras.expiresAt = expiresAt;
  }
  return fromParts(
    resource ?? '',
    relation ?? '',
    `${subject ?? ''}${formatSuffix({ ...EMPTY, ...extras })}`,
  );
}

const EMPTY: RelationshipTuple = {
  resourceType: '',
  resourceId: '',
  relation: '',
  subjectType: '',
  subjectId: '',
};

/** One format's reading of lines (zed, NDJSON, CSV), with the little state CSV's header needs. */
export class LineParser {
  private csvHeaderSeen = false;

  constructor(readonly format: Exclude<BulkFormat, 'yaml'>) {}

  /** undefined for lines that carry no relationship (blank, comment, header). */
  parse(raw: RawLine): ParsedRecord | undefined {
    try {
      const relationship = this.relationshipOf(raw.text, raw.line);
      return relationship === undefined ? undefined : { line: raw.line, relationship };
    } catch (error) {
      if (error instanceof LineError) return { line: raw.line, error: error.message };
      throw error;
    }
  }

  /** Called after the last line: a problem of the file as a whole, if any. */
  finish(lastLine: number): ParsedRecord | undefined {
    if (this.format === 'csv' && !this.csvHeaderSeen) {
      return { line: lastLine, error: 'the CSV file has no header line resource,relation,subject' };
    }
    return undefined;
  }

  private relationshipOf(raw: string, line: number): RelationshipTuple | undefined {
    const text = raw.trim();
    if (text === '') return undefined;
    switch (this.format) {
      case 'zed':
        return isComment(text) ? undefined : parseRelationship(text);
      case 'ndjson':
        return parseNdjson(text);
      case 'csv': {
        const fields = csvFields(text);
        if (!this.csvHeaderSeen) {
          this.csvHeaderSeen = true;
          if (fields.join(',') !== 'resource,relation,subject') {
            throw new LineError(`the header must be resource,relation,subject (line ${line})`);
          }
          return undefined;
        }
        if (fields.length !== 3) throw new LineError(`has ${fields.length} fields, expected 3`);
        return fromParts(fields[0] ?? '', fields[1] ?? '', fields[2] ?? '');
      }
    }
  }
}

/** Every record of the file, parsed, in arrays; the memory held is one read chunk (YAML: the file). */
export async function* readRecords(
  file: string,
  format: BulkFormat = formatOf(file),
): AsyncGenerator<ParsedRecord[]> {
  if (format === 'yaml') {
    const records = await yamlRecords(file);
    for (let start = 0; start < records.length; start += 10_000) {
      yield records.slice(start, start + 10_000);
    }
    return;
  }
  const parser = new LineParser(format);
  let lastLine = 0;
  for await (const lines of readLines(file)) {
    const records: ParsedRecord[] = [];
    for (const raw of lines) {
      const record = parser.parse(raw);
      if (record) records.push(record);
      lastLine = raw.line;
    }
    if (records.length > 0) yield records;
  }
  const problem = parser.finish(lastLine);
  if (problem) yield [problem];
}

/** A CSV field, quoted when it holds a comma, a quote or a bracket's JSON. */
const csvField = (value: string) =>
  /[",\s]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;

/** The text of one relationship in a format, with its newline. */
export function serialize(format: BulkFormat, t: RelationshipTuple): string {
  switch (format) {
    case 'zed':
      return `${formatTuple(t)}\n`;
    case 'yaml':
      return `  ${formatTuple(t)}\n`;
    case 'csv':
      return `${t.resourceType}:${t.resourceId},${t.relation},${csvField(subjectText(t))}\n`;
    case 'ndjson':
      return `${JSON.stringify({
        resource: `${t.resourceType}:${t.resourceId}`,
        relation: t.relation,
        subject: subjectText(identityOf(t)),
        ...(t.caveat !== undefined ? { caveat: t.caveat } : {}),
        ...(t.expiresAt !== undefined ? { expiresAt: t.expiresAt } : {}),
      })}\n`;
  }
}

/** What a file starts with before its relationships. */
export function preamble(format: BulkFormat, schemaText: string): string {
  switch (format) {
    case 'csv':
      return 'resource,relation,subject\n';
    case 'yaml': {
      const schema = schemaText
        .split('\n')
        .map((line) => (line.trim() === '' ? '' : `  ${line}`))
        .join('\n')
        .trimEnd();
      return `schema: |-\n${schema}\nrelationships: |-\n`;
    }
    default:
      return '';
  }
}
