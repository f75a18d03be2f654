/**
 * The importer's relationship grammar against SpiceDB's own (pkg/tuple, run by SpiceDB's
 * development package through devvalidate): each form with a failing twin, and the same verdict
 * as SpiceDB on every one of them, and on schema.zed's fit as the dry run judges it.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LineError, parseRelationship } from '../../src/bulk/relationship.js';
import { checkAgainstSchema, generatedFacts } from '../../src/bulk/schema-facts.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const fixtureSchema = path.join(repoRoot, 'test/fixtures/import/schema.zed');
const dir = mkdtempSync(path.join(tmpdir(), 'bulk-grammar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ensured = spawnSync(
  'bash',
  [path.join(repoRoot, 'scripts/playground/devvalidate/ensure.sh')],
  {
    encoding: 'utf8',
    env: { ...process.env, DEVVALIDATE_NO_BUILD: 'true' },
  },
);
const devvalidate = ensured.status === 0 ? ensured.stdout.trim() : '';
if (!devvalidate) {
  if (process.env.CI === 'true') throw new Error(`devvalidate is needed in CI: ${ensured.stderr}`);
  console.warn('bulk grammar agreement skipped: devvalidate is not built');
}

/** SpiceDB's verdict on each line alone, in a validation file with `schema`: grammar, schema or ok. */
function spicedbVerdicts(schema: string, lines: string[]): Array<'grammar' | 'schema' | 'ok'> {
  const sub = mkdtempSync(path.join(dir, 'run-'));
  copyFileSync(schema, path.join(sub, 'schema.zed'));
  const files = lines.map((line, index) => {
    const file = path.join(sub, `line-${index}.yaml`);
    writeFileSync(file, `schemaFile: schema.zed\nrelationships: |-\n  ${line}\n`);
    return file;
  });
  return files.map((file) => {
    // one process a file: SpiceDB stops at a file's first refusal (exit 2 for some of them)
    const run = spawnSync(devvalidate, ['--json', file], { encoding: 'utf8' });
    if (run.status === 0) return 'ok';
    if (run.status === 2) {
      if (!run.stderr.startsWith(`${file}: `)) throw new Error(run.stderr);
      return 'schema';
    }
    const report = JSON.parse(run.stdout) as { errors: Array<{ message: string }> };
    return report.errors.some((e) => e.message.includes('error parsing relationship'))
      ? 'grammar'
      : 'schema';
  });
}

const grammarOf = (line: string): 'grammar' | 'ok' => {
  try {
    parseRelationship(line);
    return 'ok';
  } catch (error) {
    if (error instanceof LineError) return 'grammar';
    throw error;
  }
};

/** [form, accepted line, its failing twin] on test/fixtures/import/schema.zed */
const TWINS: Array<[string, string, string]> = [
  ['ellipsis', 'doc:d1#viewer@user:a#...', 'doc:d1#viewer@user:a#..'],
  ['subject set', 'doc:d1#viewer@group:g#member', 'doc:d1#viewer@group:g#Member'],
  ['nested group', 'group:g#member@group:h#member', 'group:g#member@group:h#'],
  ['wildcard', 'doc:d1#viewer@user:*', 'doc:d1#viewer@user:a*'],
  ['caveat', 'doc:d1#viewer@user:a[on_network]', 'doc:d1#viewer@user:a[on-network]'],
  [
    'caveat context',
    'doc:d1#viewer@user:a[on_network:{"cidr":"10.0.0.0/8"}]',
    'doc:d1#viewer@user:a[on_network:{"cidr":}]',
  ],
  ['empty context', 'doc:d1#viewer@user:a[on_network:{ }]', 'doc:d1#viewer@user:a[on_network:{}]'],
  [
    'context object',
    'doc:d1#viewer@user:a[on_network:{"cidr":"10.0.0.0/8","ip":"10.1.2.3"}]',
    'doc:d1#viewer@user:a[on_network:["a"]]',
  ],
  [
    'expiration',
    'doc:d1#guest@user:a[expiration:2030-01-01T00:00:00Z]',
    'doc:d1#guest@user:a[expiration:2030-01-01T00:00:00+01:00]',
  ],
  [
    'expiration offset',
    'doc:d1#guest@user:a[expiration:2030-01-01T00:00:00-05:00]',
    'doc:d1#guest@user:a[expiration:2030-01-01]',
  ],
  [
    'expiration fraction',
    'doc:d1#guest@user:a[expiration:2030-01-01T00:00:00.123456789Z]',
    'doc:d1#guest@user:a[expiration:2030-01-01T00:00:00.Z]',
  ],
  [
    'expiration date',
    'doc:d1#guest@user:a[expiration:2028-02-29T23:59:59Z]',
    'doc:d1#guest@user:a[expiration:2030-02-29T23:59:59Z]',
  ],
  [
    'caveat and expiration',
    'doc:d1#visitor@user:a[on_network:{"cidr":"10.0.0.0/8"}][expiration:2030-01-01T00:00:00Z]',
    'doc:d1#visitor@user:a[expiration:2030-01-01T00:00:00Z][on_network:{"cidr":"10.0.0.0/8"}]',
  ],
  ['ids', 'doc:a/b_c|d-e=f+g#owner@user:x', 'doc:a.b#owner@user:x'],
];

describe.skipIf(!devvalidate)("the grammar agrees with SpiceDB's (pkg/tuple)", () => {
  it('accepts each form and refuses its twin, as SpiceDB does', () => {
    const lines = TWINS.flatMap(([, accepted, twin]) => [accepted, twin]);
    const spicedb = spicedbVerdicts(fixtureSchema, lines);
    const ours = lines.map(grammarOf);
    TWINS.forEach(([form], index) => {
      expect([spicedb[2 * index], ours[2 * index]], `${form}: ${lines[2 * index]}`).toEqual([
        'ok',
        'ok',
      ]);
      expect(
        [spicedb[2 * index + 1], ours[2 * index + 1]],
        `${form} twin: ${lines[2 * index + 1]}`,
      ).toEqual(['grammar', 'grammar']);
    });
  });

  it("the dry run's schema.zed facts refuse what SpiceDB refuses", () => {
    const facts = generatedFacts();
    const lines = [
      'organization:acme#admin@user:a[expiration:2030-01-01T00:00:00Z]',
      'organization:acme#owner@user:a[expiration:2030-01-01T00:00:00Z]',
      'organization:acme#owner@user:a#...',
      'organization:acme#owner@user:*',
      'project:p1#organization@organization:acme',
      'project:p1#organization@organization:acme#member',
      'invitation:acme#member@user:b[expiration:2030-01-01T00:00:00Z]',
      'invitation:acme#member@user:b[some_caveat]',
      'project:p1#view_name@user:a',
      'cluster:c1#project@volume:v1',
    ];
    const ours = lines.map((line) => {
      try {
        checkAgainstSchema(facts, parseRelationship(line));
        return 'ok';
      } catch (error) {
        if (error instanceof LineError) return 'schema';
        throw error;
      }
    });
    expect(ours).toEqual([
      'ok',
      'schema',
      'ok',
      'schema',
      'ok',
      'schema',
      'ok',
      'schema',
      'schema',
      'schema',
    ]);
    expect(spicedbVerdicts(path.join(repoRoot, 'schema.zed'), lines)).toEqual(ours);
  });
});
