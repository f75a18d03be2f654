/**
 * The `relationships` of a playground/validation YAML file, read as SpiceDB reads them
 * (pkg/validationfile/blocks/relationships.go): the key's value is a YAML string in any scalar
 * style (`|`, `|-`, `>-`, plain, quoted), split at newlines; blank lines and `//` comments are
 * skipped; every other line is one relationship. The yaml library parses the file; each line's
 * number is where its text stands in the file.
 */
import { readFile } from 'node:fs/promises';
import { isScalar, LineCounter, parseDocument } from 'yaml';
import type { ParsedRecord } from './formats.js';
import { LineError, parseRelationship } from './relationship.js';

export async function yamlRecords(file: string): Promise<ParsedRecord[]> {
  const source = await readFile(file, 'utf8');
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, keepSourceTokens: false });
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  const syntax = doc.errors[0];
  if (syntax) return [{ line: syntax.linePos?.[0].line ?? 1, error: `YAML: ${syntax.message}` }];
  const node = doc.contents && 'get' in doc.contents ? doc.get('relationships', true) : undefined;
  const lastLine = Math.max(1, lineAt(source.trimEnd().length));
  if (node === undefined || node === null) {
    return [{ line: lastLine, error: 'the YAML file has no top-level `relationships` key' }];
  }
  if (!isScalar(node) || typeof node.value !== 'string') {
    return [
      {
        line: isScalar(node) && node.range ? lineAt(node.range[0]) : lastLine,
        error: 'relationships must be a string: one relationship a line (e.g. `relationships: |-`)',
      },
    ];
  }
  const [start, end] = node.range ?? [0, source.length];
  let cursor = start;
  const records: ParsedRecord[] = [];
  for (const raw of node.value.split('\n')) {
    const text = raw.trim();
    if (text === '' || text.startsWith('//')) continue;
    // where the line's text stands (escapes of a quoted scalar aside: then the scalar's start)
    const at = source.indexOf(text, cursor);
    const found = at >= 0 && at < end;
    if (found) cursor = at + text.length;
    const line = lineAt(found ? at : start);
    try {
      records.push({ line, relationship: parseRelationship(text) });
    } catch (error) {
      if (!(error instanceof LineError)) throw error;
      records.push({ line, error: error.message });
    }
  }
  return records;
}
