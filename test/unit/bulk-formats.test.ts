import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import {
  formatOf,
  LineParser,
  preamble,
  readLines,
  readRecords,
  serialize,
  type BulkFormat,
  type ParsedRecord,
} from '../../src/bulk/formats.js';
import {
  checkAgainstSchema,
  derivedInverse,
  LineError,
  parseZed,
  type RelationshipTuple,
} from '../../src/bulk/relationship.js';
import { parseSchemaRules } from '../../src/bulk/schema-rules.js';
import { formatTuple } from '../../src/spicedb/proto.js';
import { readSchemaFile } from '../../src/spicedb/connection.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bulk-unit-'));
const rules = parseSchemaRules(await readSchemaFile());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function recordsOf(name: string, text: string): Promise<ParsedRecord[]> {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  const all: ParsedRecord[] = [];
  for await (const records of readRecords(file)) all.push(...records);
  return all;
}

const zedOf = (records: ParsedRecord[]) =>
  records.map((r) => ('relationship' in r ? formatTuple(r.relationship) : `${r.line}: ${r.error}`));

describe('schema rules parsed from schema.zed', () => {
  it('knows every relation of the contract and the subject types each accepts', () => {
    const relations = Object.fromEntries(
      [...rules].map(([type, d]) => [
        type,
        Object.fromEntries([...d.relations].map(([r, allowed]) => [r, allowed.map((a) => a.type)])),
      ]),
    );
    expect(relations).toEqual({
      user: {},
      organization: { owner: ['user'], admin: ['user'], member: ['user'], project: ['project'] },
      project: { organization: ['organization'], admin: ['user'], member: ['user'] },
      cluster: { project: ['project'] },
      volume: { project: ['project'] },
      invitation: { admin: ['user'], member: ['user'] },
    });
    expect(rules.get('project')?.permissions.has('view_name')).toBe(true);
  });

  it('reads subject relations, wildcards and caveats of other schemas', () => {
    const other = parseSchemaRules(`
      /* a comment with definition fake { relation x: y } */
      definition user {}
      caveat ip_allowed(ip string) { ip == "1" }
      definition team { relation member: user | team#member // trailing
      }
      definition doc { relation viewer: user:* | team#member | user with ip_allowed }`);
    expect(other.get('fake')).toBeUndefined();
    expect(other.get('team')?.relations.get('member')).toEqual([
      { type: 'user' },
      { type: 'team', relation: 'member' },
    ]);
    expect(other.get('doc')?.relations.get('viewer')).toEqual([
      { type: 'user', wildcard: true },
      { type: 'team', relation: 'member' },
      { type: 'user' },
    ]);
    expect(() => checkAgainstSchema(other, parseZed('doc:d1#viewer@team:t1#member'))).not.toThrow();
    expect(() => checkAgainstSchema(other, parseZed('doc:d1#viewer@team:t1'))).toThrow(
      /does not accept subject team/,
    );
  });
});

describe('validation against schema.zed', () => {
  const problem = (line: string) => {
    try {
      checkAgainstSchema(rules, parseZed(line));
      return 'valid';
    } catch (error) {
      if (error instanceof LineError) return error.message;
      throw error;
    }
  };

  it('accepts the relations of the contract', () => {
    for (const line of [
      'organization:acme#owner@user:alice',
      'organization:acme#project@project:p1',
      'project:p1#organization@organization:acme',
      'project:p1#member@user:bob',
      'cluster:c1#project@project:p1',
      'volume:v1#project@project:p1',
      'project:a/b_c|d-e=f+g#admin@user:x',
    ]) {
      expect(problem(line), line).toBe('valid');
    }
  });

  it('names what does not fit', () => {
    expect(problem('team:t1#member@user:alice')).toMatch(/unknown resource type "team"/);
    expect(problem('project:p1#owner@user:alice')).toMatch(/unknown relation "owner" on project/);
    expect(problem('user:alice#self@user:alice')).toMatch(/unknown relation "self" on user/);
    expect(problem('project:p1#view_name@user:alice')).toMatch(/is a permission of project/);
    expect(problem('project:p1#admin@organization:acme')).toMatch(
      /project#admin does not accept subject organization \(allowed: user\)/,
    );
    expect(problem('project:p1#admin@user:alice#self')).toMatch(
      /does not accept subject user#self/,
    );
    expect(problem('project:p*#admin@user:alice')).toMatch(/resource id "p\*" must match/);
    expect(problem('project:p1#admin@user:')).toMatch(/subject id "" must match/);
    expect(problem(`project:${'x'.repeat(1025)}#admin@user:a`)).toMatch(/must match/);
    expect(problem('project:p1#admin@user:*')).toMatch(/subject id "\*" must match/);
    expect(problem('project:p1#admin')).toMatch(/must be written resource:id#relation@subject:id/);
    expect(problem('project:p1#admin@user:a[caveat]')).toMatch(/caveats/);
    expect(problem('Project:p1#admin@user:a')).toMatch(/not a type name/);
  });

  it('derives organization#project from project#organization only', () => {
    expect(derivedInverse(rules, parseZed('project:p1#organization@organization:acme'))).toEqual(
      parseZed('organization:acme#project@project:p1'),
    );
    expect(derivedInverse(rules, parseZed('project:p1#admin@user:a'))).toBeUndefined();
  });
});

describe('the four notations', () => {
  const expected = [
    'project:p1#organization@organization:acme',
    'project:p1#admin@user:alice',
    'cluster:c1#project@project:p1',
  ];

  it('reads zed notation, skipping blank and comment lines, CRLF endings too', async () => {
    const records = await recordsOf(
      'a.txt',
      '// header\r\nproject:p1#organization@organization:acme\r\n\r\n# note\nproject:p1#admin@user:alice\n  cluster:c1#project@project:p1',
    );
    expect(zedOf(records)).toEqual(expected);
    expect(records.map((r) => r.line)).toEqual([2, 5, 6]);
  });

  it('reads NDJSON and reports malformed lines by number', async () => {
    const records = await recordsOf(
      'a.ndjson',
      [
        '{"resource":"project:p1","relation":"organization","subject":"organization:acme"}',
        '{"resource":"project:p1","relation":"admin","subject":"user:alice"}',
        '{"resource":"project:p1","relation":"admin"',
        '{"resource":"project:p1","relation":"admin","subject":3}',
        '{"resource":"project:p1","relation":"admin","subject":"user:a","caveat":"x"}',
        '["project:p1"]',
        '{"resource":"cluster:c1","relation":"project","subject":"project:p1"}',
      ].join('\n'),
    );
    expect(zedOf(records)).toEqual([
      expected[0],
      expected[1],
      '3: is not valid JSON',
      '4: field "subject" must be a string',
      '5: unexpected field(s) caveat',
      '6: must be a JSON object {"resource","relation","subject"}',
      expected[2],
    ]);
  });

  it('reads CSV with its header and quoted fields', async () => {
    const records = await recordsOf(
      'a.csv',
      'resource,relation,subject\nproject:p1,organization,organization:acme\n"project:p1","admin","user:alice"\ncluster:c1, project ,project:p1\nproject:p1,admin\n',
    );
    expect(zedOf(records)).toEqual([...expected, '5: has 2 fields, expected 3']);
    expect(
      zedOf(await recordsOf('b.csv', 'resource,subject,relation\nproject:p1,user:a,admin\n'))[0],
    ).toMatch(/^1: the header must be resource,relation,subject/);
    expect(zedOf(await recordsOf('c.csv', ''))).toEqual([
      '0: the CSV file has no header line resource,relation,subject',
    ]);
  });

  it('reads the relationships block of a playground YAML file, with file line numbers', async () => {
    const text = [
      'schema: |-',
      '  definition user {}',
      '  relationships: not this one',
      'relationships: |-',
      '  project:p1#organization@organization:acme',
      '',
      '  // a comment',
      '  project:p1#admin@user:alice',
      '  cluster:c1#project@project:p1',
      'assertions:',
      '  assertTrue:',
      '    - project:p1#admin@user:alice',
    ].join('\n');
    const records = await recordsOf('a.yaml', text);
    expect(zedOf(records)).toEqual(expected);
    expect(records.map((r) => r.line)).toEqual([5, 8, 9]);
    expect(zedOf(await recordsOf('b.yml', 'schema: x\n'))).toEqual([
      '1: the YAML file has no top-level `relationships: |` block',
    ]);
    expect(
      zedOf(await recordsOf('c.yaml', 'relationships: "project:p1#admin@user:a"\n'))[0],
    ).toMatch(/literal block scalar/);
  });

  it('splits lines across read chunks without losing or merging any', async () => {
    const file = path.join(dir, 'long.txt');
    const lines = Array.from({ length: 3000 }, (_, i) => `${'x'.repeat(i % 97)}${i}`);
    writeFileSync(file, lines.join('\n'));
    const read: string[] = [];
    for await (const chunk of readLines(file)) read.push(...chunk.map((l) => l.text));
    expect(read).toEqual(lines);
  });

  it('picks the format from the extension', () => {
    expect(
      ['a.txt', 'a.zed', 'a.ndjson', 'a.jsonl', 'a.csv', 'a.yaml', 'a.YML'].map(formatOf),
    ).toEqual(['zed', 'zed', 'ndjson', 'ndjson', 'csv', 'yaml', 'yaml']);
    expect(() => formatOf('a.json')).toThrow(/cannot tell the format/);
  });
});

describe('serializing and parsing back', () => {
  const id = fc.stringMatching(/^[a-zA-Z0-9/_|\-=+]{1,40}$/);
  const relationship = fc.record({
    resourceType: fc.constantFrom('project', 'organization', 'acme/doc'),
    resourceId: id,
    relation: fc.constantFrom('admin', 'member', 'organization'),
    subjectType: fc.constantFrom('user', 'team'),
    subjectId: id,
    subjectRelation: fc.option(fc.constantFrom('member', 'self'), { nil: undefined }),
  });

  it.each(['zed', 'ndjson', 'csv', 'yaml'] as BulkFormat[])(
    'reproduces every relationship in %s',
    (format) => {
      fc.assert(
        fc.property(fc.array(relationship, { maxLength: 20 }), (generated) => {
          const tuples = generated.map((t): RelationshipTuple => {
            const { subjectRelation, ...rest } = t;
            return subjectRelation ? { ...rest, subjectRelation } : rest;
          });
          const text =
            preamble(format, 'definition user {}\n') +
            tuples.map((t) => serialize(format, t)).join('');
          const parser = new LineParser(format);
          const back = text
            .split('\n')
            .map((line, index) => parser.parse({ line: index + 1, text: line }))
            .filter((r): r is ParsedRecord => r !== undefined);
          expect(back.map((r) => ('relationship' in r ? r.relationship : r.error))).toEqual(tuples);
          if (format === 'yaml') {
            const doc = parseYaml(text) as { relationships?: string };
            expect((doc.relationships ?? '').split('\n').filter(Boolean)).toEqual(
              tuples.map(formatTuple),
            );
          }
        }),
        { numRuns: 50 },
      );
    },
  );
});
