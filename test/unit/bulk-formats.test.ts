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
  LineError,
  parseRelationship,
  type RelationshipTuple,
} from '../../src/bulk/relationship.js';
import {
  checkAgainstSchema,
  derivedInverse,
  generatedFacts,
  reflectedFacts,
} from '../../src/bulk/schema-facts.js';
import { formatTuple, v1 } from '../../src/spicedb/proto.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bulk-unit-'));
const facts = generatedFacts();
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

const problem = (line: string, against = facts) => {
  try {
    checkAgainstSchema(against, parseRelationship(line));
    return 'valid';
  } catch (error) {
    if (error instanceof LineError) return error.message;
    throw error;
  }
};

describe('schema facts from SpiceDB (the generated module, or a ReflectSchema answer)', () => {
  it('knows every relation of the contract and the subject types each accepts', () => {
    const relations = Object.fromEntries(
      [...facts.definitions].map(([type, d]) => [
        type,
        Object.fromEntries(
          [...d.relations].map(([r, allowed]) => [r, [...new Set(allowed.map((a) => a.type))]]),
        ),
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
    expect(facts.definitions.get('project')?.permissions.has('view_name')).toBe(true);
  });

  it('reads subject sets, wildcards and caveats from a reflection', () => {
    const type = (
      name: string,
      typeref: v1.ReflectionTypeReference['typeref'],
      caveat = '',
    ): v1.ReflectionTypeReference => ({
      subjectDefinitionName: name,
      optionalCaveatName: caveat,
      typeref,
    });
    const terminal = { oneofKind: 'isTerminalSubject' as const, isTerminalSubject: false };
    const reflection = v1.ReflectSchemaResponse.create({
      definitions: [
        { name: 'user', relations: [], permissions: [] },
        {
          name: 'doc',
          relations: [
            {
              name: 'viewer',
              parentDefinitionName: 'doc',
              subjectTypes: [
                type('user', { oneofKind: 'isPublicWildcard', isPublicWildcard: true }),
                type('group', {
                  oneofKind: 'optionalRelationName',
                  optionalRelationName: 'member',
                }),
                type('user', terminal, 'on_network'),
              ],
            },
          ],
          permissions: [{ name: 'view', parentDefinitionName: 'doc' }],
        },
        { name: 'group', relations: [], permissions: [] },
      ],
      caveats: [{ name: 'on_network', parameters: [] }],
    });
    const other = reflectedFacts(reflection);
    if (!other) throw new Error('a reflection with definitions gives facts');
    expect(problem('doc:d1#viewer@group:t1#member', other)).toBe('valid');
    expect(problem('doc:d1#viewer@user:*', other)).toBe('valid');
    expect(problem('doc:d1#viewer@user:a[on_network]', other)).toBe('valid');
    // the failing twins
    expect(problem('doc:d1#viewer@group:t1', other)).toMatch(/does not accept subject group /);
    expect(problem('doc:d1#viewer@user:a', other)).toMatch(/does not accept subject user /);
    expect(problem('doc:d1#viewer@user:a[other_caveat]', other)).toMatch(/unknown caveat/);
    expect(problem('doc:d1#view@user:*', other)).toMatch(/is a permission of doc/);
    expect(reflectedFacts(v1.ReflectSchemaResponse.create({}))).toBeUndefined();
  });
});

describe('validation against schema.zed (as SpiceDB compiled it)', () => {
  it('accepts the relations of the contract, with expiration where the schema allows it', () => {
    for (const line of [
      'organization:acme#owner@user:alice',
      'organization:acme#owner@user:alice#...',
      'organization:acme#project@project:p1',
      'project:p1#organization@organization:acme',
      'project:p1#member@user:bob',
      'project:p1#member@user:bob[expiration:2030-01-01T00:00:00Z]',
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
      /project#admin does not accept subject organization \(allowed: user \| user with expiration\)/,
    );
    expect(problem('project:p1#admin@user:alice#self')).toMatch(
      /does not accept subject user#self/,
    );
    // expiration only where the schema says `with expiration`, caveats only where it names one
    expect(problem('organization:acme#owner@user:a[expiration:2030-01-01T00:00:00Z]')).toMatch(
      /does not accept subject user with expiration \(allowed: user\)/,
    );
    expect(problem('project:p1#admin@user:a[some_caveat]')).toMatch(/unknown caveat "some_caveat"/);
    expect(problem('project:p1#admin@user:*')).toMatch(/does not accept subject user:\*/);
    expect(problem('project:p*#admin@user:alice')).toMatch(/resource id "p\*" must match/);
    expect(problem('project:p1#admin@user:')).toMatch(/subject id "" must match/);
    expect(problem(`project:${'x'.repeat(1025)}#admin@user:a`)).toMatch(/<= 1024 characters/);
    expect(problem('project:p1#admin')).toMatch(/must be written resource:id#relation@subject:id/);
    expect(problem('Project:p1#admin@user:a')).toMatch(/not a type name/);
  });

  it('derives organization#project from project#organization only', () => {
    expect(
      derivedInverse(facts, parseRelationship('project:p1#organization@organization:acme')),
    ).toEqual(parseRelationship('organization:acme#project@project:p1'));
    expect(derivedInverse(facts, parseRelationship('project:p1#admin@user:a'))).toBeUndefined();
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
        '{"resource":"doc:d","relation":"viewer","subject":"group:g#member","caveat":{"name":"on_network","context":{"k":[1]}},"expiresAt":"2030-01-01T00:00:00Z"}',
        '{"resource":"doc:d","relation":"viewer","subject":"user:a","expiresAt":"tomorrow"}',
        '{"resource":"doc:d","relation":"viewer","subject":"user:a","extra":1}',
      ].join('\n'),
    );
    expect(zedOf(records)).toEqual([
      expected[0],
      expected[1],
      '3: is not valid JSON',
      '4: field "subject" must be a string',
      '5: field "caveat" must be {"name": string, "context"?: object}',
      '6: must be a JSON object {"resource","relation","subject"}',
      expected[2],
      'doc:d#viewer@group:g#member[on_network:{"k":[1]}][expiration:2030-01-01T00:00:00.000Z]',
      expect.stringMatching(/^9: "\[expiration:tomorrow\]" is neither/),
      '10: unexpected field(s) extra',
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
      '1: the YAML file has no top-level `relationships` key',
    ]);
    expect(zedOf(await recordsOf('c.yaml', 'relationships:\n  - a\n'))[0]).toMatch(
      /^2: relationships must be a string/,
    );
    expect(zedOf(await recordsOf('d.yaml', 'relationships: [\n'))[0]).toMatch(/^\d+: YAML: /);
  });

  it('reads the relationships of any YAML scalar style, as SpiceDB decodes them', async () => {
    const lines = ['project:p1#admin@user:alice', 'cluster:c1#project@project:p1'];
    const styles: Record<string, string> = {
      literal: `relationships: |\n  ${lines[0]}\n  ${lines[1]}\n`,
      // folded: a blank line between entries is a newline in the value
      folded: `relationships: >-\n  ${lines[0]}\n\n  ${lines[1]}\n`,
      plain: `relationships:\n  ${lines[0]}\n\n  ${lines[1]}\n`,
      double: `relationships: "${lines[0]}\\n${lines[1]}"\n`,
      single: `relationships: '${lines[0]}\n\n  ${lines[1]}'\n`,
    };
    for (const [style, text] of Object.entries(styles)) {
      const records = await recordsOf(`style-${style}.yaml`, `schema: x\n${text}`);
      expect(zedOf(records), style).toEqual(lines);
      expect(records[0]?.line, style).toBe(
        style === 'literal' || style === 'folded' || style === 'plain' ? 3 : 2,
      );
    }
    // folded without a blank line joins two relationships into one line: SpiceDB refuses it too
    const joined = await recordsOf(
      'joined.yaml',
      `relationships: >-\n  ${lines[0]}\n  ${lines[1]}\n`,
    );
    expect(zedOf(joined)).toEqual([expect.stringMatching(/^1: /)]);
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
    caveat: fc.option(
      fc.record(
        {
          name: fc.constantFrom('on_network', 'acme/allowed'),
          context: fc.dictionary(fc.constantFrom('cidr', 'n', 'list'), fc.jsonValue(), {
            minKeys: 1,
          }),
        },
        { requiredKeys: ['name'] },
      ),
      { nil: undefined },
    ),
    expiresAt: fc.option(
      fc.constantFrom('2030-01-01T00:00:00.000Z', '2031-06-30T12:34:56.123456789Z'),
      {
        nil: undefined,
      },
    ),
  });

  it.each(['zed', 'ndjson', 'csv', 'yaml'] as BulkFormat[])(
    'reproduces every relationship in %s',
    (format) => {
      fc.assert(
        fc.property(fc.array(relationship, { maxLength: 20 }), (generated) => {
          const tuples = generated.map((t): RelationshipTuple => {
            const { subjectRelation, caveat, expiresAt, ...rest } = t;
            // JSON's own round trip (-0 is 0): the context as it will be read back
            const context =
              caveat?.context &&
              (JSON.parse(JSON.stringify(caveat.context)) as Record<string, unknown>);
            return {
              ...rest,
              ...(subjectRelation ? { subjectRelation } : {}),
              ...(caveat
                ? { caveat: context ? { name: caveat.name, context } : { name: caveat.name } }
                : {}),
              ...(expiresAt ? { expiresAt } : {}),
            };
          });
          const text =
            preamble(format, 'definition user {}\n') +
            tuples.map((t) => serialize(format, t)).join('');
          if (format === 'yaml') {
            const doc = parseYaml(text) as { relationships?: string | null };
            const back = (doc.relationships ?? '').split('\n').filter(Boolean);
            expect(back.map(parseRelationship)).toEqual(tuples);
            return;
          }
          const parser = new LineParser(format);
          const back = text
            .split('\n')
            .map((line, index) => parser.parse({ line: index + 1, text: line }))
            .filter((r): r is ParsedRecord => r !== undefined);
          expect(back.map((r) => ('relationship' in r ? r.relationship : r.error))).toEqual(tuples);
        }),
        { numRuns: 50 },
      );
    },
  );
});
