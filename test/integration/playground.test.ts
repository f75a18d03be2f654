import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { matrixCells, SAMPLE, userOf } from '../../testkit/matrix.js';
import { RESOURCE_TYPES } from '../../src/authz/schema.js';
import { connectRemote, readSchemaFile } from '../../src/spicedb/connection.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { formatTuple } from '../../src/spicedb/proto.js';
import { generateSampleOrgFile, SAMPLE_ORG_FILE } from '../../scripts/playground/generate.js';
import { devvalidateBinary } from '../../scripts/playground/devvalidate.js';
import { pseudonymizer } from '../../scripts/playground/org-export.js';
import { buildSampleOrganization, serviceOver } from '../../testkit/sample-org.js';
import { freshSpiceDb, testTarget } from '../support/spicedb.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const workDir = mkdtempSync(path.join(tmpdir(), 'playground-test-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** The environment that points a script at an empty datastore of the tests' SpiceDB server. */
export function scriptEnv(): NodeJS.ProcessEnv {
  const target = testTarget();
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'silent' };
  delete env.SPICEDB_ENDPOINT;
  if (target.mode === 'server') {
    // serve-testing gives every new preshared key its own empty datastore.
    env.SPICEDB_ENDPOINT = target.endpoint;
    env.SPICEDB_TOKEN = `script-${randomUUID()}`;
    env.SPICEDB_INSECURE = 'true';
  }
  return env;
}

export function runScript(script: string, args: string[], env = scriptEnv()) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: repoRoot,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const validate = (file: string) => runScript('scripts/playground/validate.ts', [file]);

// SpiceDB's development package behind a command line; built by ensure.sh the first time
// (minutes). There is no skipping: without it there is no validator, and these tests fail.
let devvalidate = '';
beforeAll(() => {
  devvalidate = devvalidateBinary();
}, 900_000);

/** SpiceDB's own report (devvalidate's text mode): its problem lines and its exit status. */
function spicedbSays(file: string): { lines: string[]; code: number | null } {
  const result = spawnSync(devvalidate, [file], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const lines = result.stdout.split('\n').filter((l) => l !== '');
  expect(lines.at(-1)).toMatch(/\(SpiceDB development package\)$/);
  return { lines: lines.slice(0, -1), code: result.status };
}

/** Our validator's problem lines (all but the summary), its summary and exit status. */
function validatorSays(file: string) {
  const result = validate(file);
  const lines = result.stdout.split('\n').filter((l) => l !== '');
  return {
    lines: lines.slice(0, -1),
    summary: lines.at(-1) ?? '',
    code: result.code,
    stderr: result.stderr,
  };
}

/** The 1-based line numbers of the `FILE:LINE: message` lines (warnings left out). */
const failureLines = (lines: string[]) =>
  lines
    .filter((l) => !/^[^:]+:\d+: warning: /.test(l))
    .map((l) => Number(/^[^:]+:(\d+): /.exec(l)?.[1]))
    .sort((a, b) => a - b);

/** The 1-based line of the first line of `text` equal to `line`. */
function lineOf(text: string, line: string): number {
  const index = text.split('\n').indexOf(line);
  if (index < 0) throw new Error(`no line ${line}`);
  return index + 1;
}

// Playground files of our own, each with a failing twin (NAME.fail.yaml) whose failures are on
// the lines given here.
const FIXTURES: Array<{ name: string; fails: string[]; twin?: string }> = [
  {
    name: 'subject-sets',
    fails: [
      "    - 'document:roadmap#edit@team:sre#member'",
      "    - '[user:maria] is <team:sre#member>'",
    ],
  },
  {
    name: 'intersection-exclusion',
    fails: ["    - 'report:q3#read@user:cid'", "    - '[user:bob] is <organization:acme#member>'"],
  },
  {
    name: 'caveats',
    fails: [
      "    - 'repository:api#read@user:bob'",
      `    - 'repository:api#read@user:bob with {"source": "192.168.1.1"}'`,
      "    - '[user:bob] is <repository:api#reader>'",
    ],
  },
  {
    name: 'expiration',
    fails: [
      "    - 'project:atlas#access@user:contractor_old'",
      "    - '[user:contractor_old] is <project:atlas#member>'",
    ],
  },
  { name: 'expiration', twin: 'schema-error', fails: ['    permission access = membr'] },
  { name: 'schema-file', fails: ["    - '[user:bob] is <folder:root#viewer>'"] },
  // A folded item is reported on its `- >-` line.
  { name: 'folded', fails: ['    - >-', '    - >-'] },
];
const fixture = (name: string) => `test/fixtures/playground/${name}.yaml`;

describe("playground:validate is SpiceDB's validator", () => {
  for (const { name, fails, twin } of FIXTURES) {
    if (twin === undefined) {
      it(`${name}.yaml: passes, with SpiceDB's report`, () => {
        const spicedb = spicedbSays(fixture(name));
        const ours = validatorSays(fixture(name));
        expect(ours.stderr).toBe('');
        expect(ours.lines).toEqual(spicedb.lines);
        expect(spicedb.code).toBe(0);
        expect(ours.code).toBe(0);
        expect(ours.summary).toMatch(/: all passed/);
      });
    }
    const failing = fixture(`${twin ?? name}.fail`);
    it(`${failing}: fails on the lines SpiceDB names, with SpiceDB's messages`, () => {
      const text = readFileSync(path.join(repoRoot, failing), 'utf8');
      // Each listed line's occurrences in order: a line listed twice is its first two.
      const textLines = text.split('\n');
      const expectedLines = fails
        .map((line, index) => {
          const nth = fails.slice(0, index).filter((l) => l === line).length;
          const at = textLines.flatMap((l, i) => (l === line ? [i + 1] : []))[nth];
          if (at === undefined) throw new Error(`${failing} has no line ${line} (${nth + 1})`);
          return at;
        })
        .sort((a, b) => a - b);
      const spicedb = spicedbSays(failing);
      const ours = validatorSays(failing);
      expect(ours.lines).toEqual(spicedb.lines);
      expect(failureLines(ours.lines)).toEqual(expectedLines);
      expect(spicedb.code).toBe(1);
      expect(ours.code).toBe(1);
      expect(ours.summary).toMatch(
        new RegExp(`: ${fails.length} failures?(, \\d+ warnings?)? in \\d+ ms`),
      );
    });
  }

  it('exits 2 when the file cannot be read', () => {
    const result = validate('test/fixtures/playground/no-such-file.yaml');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no-such-file\.yaml: cannot read it/);
  });

  it('`authz validate` gives the same report and exit status', () => {
    for (const file of [fixture('caveats'), fixture('caveats.fail')]) {
      const cli = spawnSync(process.execPath, ['bin/authz.js', 'validate', file], {
        cwd: repoRoot,
        env: { ...process.env, LOG_LEVEL: 'silent' },
        encoding: 'utf8',
        timeout: 120_000,
      });
      const lines = cli.stdout.split('\n').filter((l) => l !== '');
      expect(lines.slice(0, -1)).toEqual(spicedbSays(file).lines);
      expect(cli.status).toBe(file.endsWith('.fail.yaml') ? 1 : 0);
    }
  });
});

describe('playground/sample-org.yaml', () => {
  const checkedIn = readFileSync(SAMPLE_ORG_FILE, 'utf8');
  const sample = path.relative(repoRoot, SAMPLE_ORG_FILE);

  it('is what `npm run playground:generate` writes today (regenerate it when this fails)', async () => {
    const connection = await freshSpiceDb();
    try {
      const fresh = await generateSampleOrgFile(connection);
      expect(checkedIn).toBe(fresh);
    } finally {
      connection.close();
    }
  });

  it('asserts every cell of the matrix and lists the holders of every permission', () => {
    const parsed = parseYaml(checkedIn) as {
      assertions: { assertTrue: string[]; assertFalse: string[] };
      validation: Record<string, string[]>;
    };
    const cells = matrixCells();
    const asText = (c: (typeof cells)[number]) =>
      `${c.resource.type}:${c.resource.id}#${c.permission}@user:${c.persona}`;
    expect(parsed.assertions.assertTrue).toEqual(cells.filter((c) => c.expected).map(asText));
    expect(parsed.assertions.assertFalse).toEqual(cells.filter((c) => !c.expected).map(asText));
    const entries = new Set(Object.keys(parsed.validation));
    for (const cell of cells.filter((c) => c.resource.type !== 'user')) {
      expect(entries).toContain(`${cell.resource.type}:${cell.resource.id}#${cell.permission}`);
    }
  });

  it("passes SpiceDB's development package", () => {
    const ours = validatorSays(sample);
    expect(ours.stderr).toBe('');
    expect(ours.lines).toEqual([]);
    expect(spicedbSays(sample)).toEqual({ lines: [], code: 0 });
    expect(ours.code).toBe(0);
    expect(ours.summary).toContain(`${matrixCells().length} assertions`);
    expect(ours.summary).toMatch(/all passed in \d+ ms/);
  });

  it('names the line of every failure of a broken copy, as SpiceDB does, and exits 1', () => {
    const lines = checkedIn.split('\n');
    const flippedAssertion = "    - 'organization:acme#write_billing@user:org_member_outside'";
    const wrongSubject = "    - '[user:org_admin_not_joined] is <organization:acme#admin>'";
    const wrongPath = "    - '[user:external_member] is <project:acme_ml#member>'";
    const assertionLine = lineOf(checkedIn, flippedAssertion);
    const subjectLine = lineOf(checkedIn, wrongSubject);
    const pathLine = lineOf(checkedIn, wrongPath);
    const relationshipLine = lineOf(checkedIn, '  project:acme_web#admin@user:owner');
    lines[assertionLine - 1] = "    - 'organization:acme#write_billing@user:owner'";
    lines[subjectLine - 1] = "    - '[user:stranger] is <organization:acme#admin>'";
    lines[pathLine - 1] = "    - '[user:external_member] is <project:acme_ml#admin>'";
    const broken = path.relative(repoRoot, path.join(workDir, 'broken.yaml'));
    writeFileSync(path.join(repoRoot, broken), lines.join('\n'));

    const ours = validatorSays(broken);
    expect(ours.lines).toEqual(spicedbSays(broken).lines);
    expect(ours.code).toBe(1);
    expect(ours.lines).toContainEqual(
      `${broken}:${assertionLine}: Expected relation or permission organization:acme#write_billing@user:owner to not exist`,
    );
    expect(ours.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^${broken}:${subjectLine}: .*missing expected subject \`user:stranger\``),
      ),
    );
    expect(ours.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${broken}:${pathLine}: .*subject \`user:external_member\`: Specified: \`<project:acme_ml#admin>\`, Computed: \`<project:acme_ml#member>\``,
        ),
      ),
    );
    // The unlisted holder is reported on its permission's line.
    expect(ours.lines).toContainEqual(
      expect.stringMatching(/:\d+: .*subject `user:org_admin_not_joined` found but not listed/),
    );
    expect(ours.summary).toMatch(/\d+ failures in \d+ ms/);

    // A relationship the schema refuses stops the file there, on its line.
    const refused = checkedIn.split('\n');
    refused[relationshipLine - 1] = '  project:acme_web#owner@user:owner';
    const refusedFile = path.relative(repoRoot, path.join(workDir, 'refused.yaml'));
    writeFileSync(path.join(repoRoot, refusedFile), refused.join('\n'));
    const stopped = validatorSays(refusedFile);
    expect(stopped.lines).toEqual(spicedbSays(refusedFile).lines);
    expect(failureLines(stopped.lines)).toEqual([relationshipLine]);
    expect(stopped.code).toBe(1);
  });

  it('passes `zed validate` where the zed CLI can be built', (context) => {
    const ensure = spawnSync('bash', ['scripts/ensure-zed.sh'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 600_000,
    });
    const zed = ensure.stdout.trim();
    if (ensure.status !== 0 || zed === '') {
      const reason = `zed CLI unavailable: ${ensure.stderr.trim().split('\n').slice(-2).join(' ')}`;
      if (process.env.ZED_REQUIRED === 'true') throw new Error(reason);
      console.log(`[playground] skipping zed validate: ${reason}`);
      context.skip(reason);
      return;
    }
    const result = spawnSync(zed, ['validate', SAMPLE_ORG_FILE], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(result.stderr + result.stdout).not.toMatch(/error|fail/i);
    expect(result.status).toBe(0);
  });
});

describe('npm run playground:export', () => {
  /** A connection to an empty datastore of the tests' server, with the key that names it. */
  function emptyServerDatastore() {
    const target = testTarget();
    if (target.mode !== 'server') return undefined;
    const token = `export-${randomUUID()}`;
    const connection = connectRemote({ endpoint: target.endpoint, token, insecure: true });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LOG_LEVEL: 'silent',
      SPICEDB_ENDPOINT: target.endpoint,
      SPICEDB_TOKEN: token,
      SPICEDB_INSECURE: 'true',
    };
    return { connection, gateway: new SpiceDbGateway(connection, { timeoutMs: 10_000 }), env };
  }

  const strong = { kind: 'fullyConsistent' } as const;
  const cellItem = (
    c: ReturnType<typeof matrixCells>[number],
    rename = (t: string, i: string) => i,
  ) => ({
    resource: { type: c.resource.type, id: rename(c.resource.type, c.resource.id) },
    permission: c.permission,
    subject: { type: 'user', id: rename('user', userOf(c.persona)) },
  });

  it('writes an organization that, imported into an empty SpiceDB, answers every matrix cell the same', async (context) => {
    const source = emptyServerDatastore();
    const target = emptyServerDatastore();
    if (source === undefined || target === undefined) {
      console.log(
        '[playground] export round trip needs a SpiceDB server: the embedded one has no endpoint',
      );
      context.skip();
      return;
    }
    try {
      await source.gateway.writeSchema(await readSchemaFile());
      await buildSampleOrganization(source.connection);
      // Another organization sharing a user must stay out of the export.
      const other = serviceOver(source.connection);
      const externalAdmin = await other.as('external_admin');
      await externalAdmin.org.create({ orgId: 'globex' });
      await externalAdmin.project.create({ orgId: 'globex', projectId: 'globex_p' });
      await externalAdmin.cluster.create({ projectId: 'globex_p', clusterId: 'globex_c' });

      const exported = path.join(workDir, 'acme-export.yaml');
      const run = runScript(
        'scripts/playground/export.ts',
        ['--org', SAMPLE.orgId, '--out', exported],
        source.env,
      );
      expect(run.stderr).toMatch(/organization acme: \d+ relationships/);
      expect(run.code).toBe(0);
      const text = readFileSync(exported, 'utf8');
      expect(text).not.toContain('globex');
      const parsed = parseYaml(text) as { relationships: string };
      const exportedLines = parsed.relationships.split('\n').filter((l) => l.trim() !== '');
      const sourceTuples = (
        await Promise.all(
          RESOURCE_TYPES.map((resourceType) =>
            source.gateway.readRelationships({ resourceType }, strong),
          ),
        )
      )
        .flat()
        // Not the other organization, nor the stranger who signed in but belongs to none.
        .filter((t) => {
          const r = formatTuple(t);
          return !r.includes('globex') && r !== 'user:stranger#self@user:stranger';
        });
      const sourceRelationships = sourceTuples.map(formatTuple);
      expect([...exportedLines].sort()).toEqual(sourceRelationships.sort());

      await target.gateway.writeSchema(await readSchemaFile());
      const imported = runScript('scripts/import.ts', [exported], target.env);
      expect(imported.code, imported.stderr).toBe(0);

      // A user's own profile belongs to the export only when the user is part of the organization
      // (the stranger is not).
      const exportedUsers = new Set(
        sourceTuples.filter((t) => t.subjectType === 'user').map((t) => t.subjectId),
      );
      const cells = matrixCells().filter(
        (c) => c.resource.type !== 'user' || exportedUsers.has(c.resource.id),
      );
      // The stranger's own profile, and the owner refused it.
      expect(cells.length).toBe(matrixCells().length - 2);
      const before = await source.gateway.checkBulk(
        cells.map((c) => cellItem(c)),
        strong,
      );
      const after = await target.gateway.checkBulk(
        cells.map((c) => cellItem(c)),
        strong,
      );
      const answers = (r: typeof before) =>
        r.results.map((x) => ('allowed' in x ? x.allowed : 'error'));
      expect(answers(after)).toEqual(answers(before));
      expect(answers(after)).toEqual(cells.map((c) => c.expected));

      // The exported file is a valid playground file of its own.
      const validated = validate(exported);
      expect(validated.stdout).toMatch(/all passed/);
      expect(validated.code).toBe(0);
    } finally {
      source.connection.close();
      target.connection.close();
    }
  });

  it('pseudonymises ids consistently with --anonymize', async (context) => {
    const source = emptyServerDatastore();
    if (source === undefined) {
      context.skip();
      return;
    }
    try {
      await source.gateway.writeSchema(await readSchemaFile());
      await buildSampleOrganization(source.connection);
      const outputs = ['a', 'b'].map((name) => path.join(workDir, `anon-${name}.yaml`));
      for (const out of outputs) {
        const run = runScript(
          'scripts/playground/export.ts',
          ['--org', SAMPLE.orgId, '--out', out, '--anonymize', '--no-validation'],
          source.env,
        );
        expect(run.code, run.stderr).toBe(0);
      }
      const [first = '', second = ''] = outputs.map((o) => readFileSync(o, 'utf8'));
      const body = (t: string) => t.slice(t.indexOf('\nschema:'));
      expect(body(first)).toBe(body(second));
      const relationships = body(first).slice(body(first).indexOf('relationships:'));
      for (const original of ['acme', 'acme_ml', 'owner', 'external_member', 'stranger']) {
        expect(relationships).not.toMatch(new RegExp(`[:@]${original}[#\\n@]`));
      }
      const rename = pseudonymizer();
      const parsed = parseYaml(first) as { assertions: { assertTrue: string[] } };
      const assertions = new Set(parsed.assertions.assertTrue);
      // The same checks hold under the pseudonyms, e.g. the project admin deleting the cluster.
      const inOrganization = (c: ReturnType<typeof matrixCells>[number]) =>
        c.resource.type !== 'user' || c.resource.id !== userOf('stranger');
      for (const cell of matrixCells().filter((c) => c.expected && inOrganization(c))) {
        const item = cellItem(cell, rename);
        expect(assertions).toContain(
          `${item.resource.type}:${item.resource.id}#${item.permission}@user:${item.subject.id}`,
        );
      }
      const validated = validate(outputs[0] ?? '');
      expect(validated.code, validated.stdout).toBe(0);
    } finally {
      source.connection.close();
    }
  });
});
