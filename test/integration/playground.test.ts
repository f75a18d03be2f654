import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { matrixCells, SAMPLE, userOf } from '../../testkit/matrix.js';
import { parsePlaygroundFile } from '../../src/authz/playground.js';
import { RESOURCE_TYPES } from '../../src/authz/schema.js';
import { connectRemote, readSchemaFile } from '../../src/spicedb/connection.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { formatTuple } from '../../src/spicedb/proto.js';
import { generateSampleOrgFile, SAMPLE_ORG_FILE } from '../../scripts/playground/generate.js';
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

/** The 1-based line of the first line of `text` equal to `line`. */
function lineOf(text: string, line: string): number {
  const index = text.split('\n').indexOf(line);
  if (index < 0) throw new Error(`no line ${line}`);
  return index + 1;
}

describe('playground/sample-org.yaml', () => {
  const checkedIn = readFileSync(SAMPLE_ORG_FILE, 'utf8');

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
    const parsed = parsePlaygroundFile(checkedIn);
    expect(parsed.problems).toEqual([]);
    const cells = matrixCells();
    const asText = (c: (typeof cells)[number]) =>
      `${c.resource.type}:${c.resource.id}#${c.permission}@user:${c.persona}`;
    expect(parsed.assertTrue.map((a) => a.value)).toEqual(
      cells.filter((c) => c.expected).map(asText),
    );
    expect(parsed.assertFalse.map((a) => a.value)).toEqual(
      cells.filter((c) => !c.expected).map(asText),
    );
    const entries = new Set(parsed.validation.map((v) => v.resource.value));
    for (const cell of cells.filter((c) => c.resource.type !== 'user')) {
      expect(entries).toContain(`${cell.resource.type}:${cell.resource.id}#${cell.permission}`);
    }
  });

  it('validates against the real SpiceDB', () => {
    const result = validate(SAMPLE_ORG_FILE);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${matrixCells().length} assertions`);
    expect(result.stdout).toMatch(/all passed in \d+ ms/);
    console.log(result.stdout.trim());
  });

  it('names the line of every failure of a broken copy and exits non-zero', () => {
    const lines = checkedIn.split('\n');
    const flippedAssertion = "    - 'organization:acme#write_billing@user:org_member_outside'";
    const wrongSubject = "    - '[user:org_admin_not_joined] is <organization:acme#admin>'";
    const wrongPath = "    - '[user:external_member] is <project:acme_ml#member>'";
    const assertionLine = lineOf(checkedIn, flippedAssertion);
    const subjectLine = lineOf(checkedIn, wrongSubject);
    const pathLine = lineOf(checkedIn, wrongPath);
    // The other project only adds a relation to the owner's view_name path.
    const relationshipLine = lineOf(checkedIn, '  project:acme_web#admin@user:owner');
    lines[assertionLine - 1] = "    - 'organization:acme#write_billing@user:owner'";
    lines[subjectLine - 1] = "    - '[user:stranger] is <organization:acme#admin>'";
    lines[pathLine - 1] = "    - '[user:external_member] is <project:acme_ml#admin>'";
    lines[relationshipLine - 1] = '  project:acme_web#owner@user:owner';
    const broken = path.join(workDir, 'broken.yaml');
    writeFileSync(broken, lines.join('\n'));

    const result = validate(broken);
    expect(result.code).toBe(1);
    const shown = path.relative(repoRoot, broken);
    const reported = result.stdout.split('\n').filter((l) => l.startsWith(`${shown}:`));
    expect(reported).toContainEqual(
      `${shown}:${assertionLine}: assertFalse failed: organization:acme#write_billing@user:owner is granted`,
    );
    expect(reported).toContainEqual(
      expect.stringMatching(
        new RegExp(`^${shown}:${subjectLine}: .*expected subject user:stranger does not hold it`),
      ),
    );
    expect(reported).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${shown}:${pathLine}: .*user:external_member is found through <project:acme_ml#member>`,
        ),
      ),
    );
    expect(reported).toContainEqual(
      expect.stringMatching(
        new RegExp(`^${shown}:${relationshipLine}: project:acme_web#owner@user:owner: `),
      ),
    );
    // The unlisted holder is reported on its permission's line.
    expect(reported).toContainEqual(
      expect.stringMatching(/:\d+: organization:acme#\w+: user:org_admin_not_joined holds it/),
    );
    expect(result.stdout).toMatch(/\d+ failures in \d+ ms/);
  });

  it("passes SpiceDB's own development package (the engine of zed validate and the playground)", (context) => {
    // Built by scripts/playground/devvalidate/ensure.sh (minutes the first time): used when
    // cached, required when DEVVALIDATE_REQUIRED=true.
    const ensure = spawnSync('bash', ['scripts/playground/devvalidate/ensure.sh'], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: {
        ...process.env,
        ...(process.env.DEVVALIDATE_REQUIRED === 'true' ? {} : { DEVVALIDATE_NO_BUILD: 'true' }),
      },
      timeout: 900_000,
    });
    const binary = ensure.stdout.trim();
    if (ensure.status !== 0 || binary === '') {
      const reason = `devvalidate is not built (run bash scripts/playground/devvalidate/ensure.sh): ${ensure.stderr.trim()}`;
      if (process.env.DEVVALIDATE_REQUIRED === 'true') throw new Error(reason);
      console.log(`[playground] skipping: ${reason}`);
      context.skip(reason);
      return;
    }
    const good = spawnSync(binary, [SAMPLE_ORG_FILE], { encoding: 'utf8', timeout: 120_000 });
    expect(good.stdout).toContain(`${matrixCells().length} assertions`);
    expect(good.stdout).toContain(': 0 failures');
    expect(good.status).toBe(0);

    // It reports the broken copy's failures on the same lines as playground:validate.
    const lines = readFileSync(SAMPLE_ORG_FILE, 'utf8').split('\n');
    const flipped = lines.indexOf(
      "    - 'organization:acme#write_billing@user:org_member_outside'",
    );
    const wrongPath = lines.indexOf("    - '[user:external_member] is <project:acme_ml#member>'");
    lines[flipped] = "    - 'organization:acme#write_billing@user:owner'";
    lines[wrongPath] = "    - '[user:external_member] is <project:acme_ml#admin>'";
    const broken = path.join(workDir, 'broken-for-devvalidate.yaml');
    writeFileSync(broken, lines.join('\n'));
    const bad = spawnSync(binary, [broken], { encoding: 'utf8', timeout: 120_000 });
    expect(bad.status).toBe(1);
    const lineNumbers = (text: string) =>
      [...text.matchAll(/\.yaml:(\d+): /g)].map((m) => Number(m[1])).sort((a, b) => a - b);
    expect(lineNumbers(bad.stdout)).toEqual([flipped + 1, wrongPath + 1]);
    const ours = validate(broken);
    expect(lineNumbers(ours.stdout)).toEqual([flipped + 1, wrongPath + 1]);
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
      const parsed = parsePlaygroundFile(text);
      expect(parsed.problems).toEqual([]);
      const sourceRelationships = (
        await Promise.all(
          RESOURCE_TYPES.map((resourceType) =>
            source.gateway.readRelationships({ resourceType }, strong),
          ),
        )
      )
        .flat()
        .map(formatTuple)
        // Not the other organization, nor the stranger who signed in but belongs to none.
        .filter((r) => !r.includes('globex') && r !== 'user:stranger#self@user:stranger');
      expect(parsed.relationships.map((r) => formatTuple(r.value)).sort()).toEqual(
        sourceRelationships.sort(),
      );

      await target.gateway.writeSchema(await readSchemaFile());
      const imported = runScript('scripts/import.ts', [exported], target.env);
      expect(imported.code, imported.stderr).toBe(0);

      // A user's own profile belongs to the export only when the user is part of the organization
      // (the stranger is not).
      const exportedUsers = new Set(
        parsed.relationships
          .filter((r) => r.value.subjectType === 'user')
          .map((r) => r.value.subjectId),
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
      const parsed = parsePlaygroundFile(first);
      const assertions = new Set(parsed.assertTrue.map((a) => a.value));
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
