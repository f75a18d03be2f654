import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, runCli, type CliIo } from '../../src/cli/index.js';
import { readSchemaFile } from '../../src/spicedb/connection.js';
import { createTestApp, startHttpApp, type TestApp } from '../support/app.js';
import { runNode } from '../support/service-process.js';
import { testTarget } from '../support/spicedb.js';
import { tokenFor } from '../../testkit/tokens.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** No test reads the contexts of whoever runs the suite. */
const isolatedConfig = mkdtempSync(path.join(tmpdir(), 'authz-cli-config-'));
afterAll(() => rmSync(isolatedConfig, { recursive: true, force: true }));
const BIN = path.join(repoRoot, 'bin/authz.js');

/** runCli in-process, with its output captured. */
async function cli(argv: string[], env: NodeJS.ProcessEnv) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: { XDG_CONFIG_HOME: isolatedConfig, ...env },
  };
  const code = await runCli(argv, io);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** The real `authz` executable (bin/authz.js, from the sources), as `npx authz` runs it. */
function spawnBin(argv: string[], env: NodeJS.ProcessEnv) {
  return runNode([BIN, ...argv], { env: { ...env, AUTHZ_CLI_SOURCE: '1' }, cwd: repoRoot });
}

describe('authz CLI against the service over HTTP', () => {
  let app: TestApp;
  let http: { url: string; close(): Promise<void> };
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    app = await createTestApp();
    const alice = await app.as('alice');
    await alice.org.create({ orgId: 'acme' });
    await alice.project.create({ orgId: 'acme', projectId: 'p1' });
    await alice.project.addCollaborator({ projectId: 'p1', userId: 'bob' });
    await alice.cluster.create({ projectId: 'p1', clusterId: 'c1' });
    http = await startHttpApp(app);
    env = { AUTHZ_URL: http.url, AUTHZ_TOKEN: await tokenFor('bob') };
  });

  afterAll(async () => {
    await http?.close();
    app?.close();
  });

  it('check: readable ALLOWED with exit 0, --json DENIED with exit 1', async () => {
    const allowed = await cli(['check', 'cluster:c1', 'ssh'], env);
    expect(allowed).toMatchObject({ code: EXIT.ok });
    expect(allowed.stdout).toBe('ALLOWED  the caller can ssh on cluster:c1');

    const denied = await cli(['check', 'cluster:c1', 'scale', '--json'], env);
    expect(denied.code).toBe(EXIT.no);
    const body = JSON.parse(denied.stdout) as { allowed: boolean; checkedAt: string };
    expect(body).toMatchObject({ allowed: false, resource: 'cluster:c1', permission: 'scale' });
    expect(body.checkedAt).not.toBe('');
  });

  it('check: a misspelt permission is a usage error naming the valid ones; a refusal is exit 3', async () => {
    const typo = await cli(['check', 'cluster:c1', 'shh'], env);
    expect(typo.code).toBe(EXIT.usage);
    expect(typo.stderr).toContain('"shh" is not a permission of cluster (did you mean ssh?)');
    expect(typo.stderr).toContain('(see `authz check --help`)');

    // bob has no authz:check scope: asking about alice is FORBIDDEN by the service.
    const refused = await cli(['check', 'cluster:c1', 'ssh', 'alice', '--json'], env);
    expect(refused.code).toBe(EXIT.failed);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'FORBIDDEN' } });

    const noToken = await cli(['check', 'cluster:c1', 'ssh'], { AUTHZ_URL: http.url });
    expect(noToken.code).toBe(EXIT.usage);
    expect(noToken.stderr).toContain('AUTHZ_TOKEN');
  });

  it('lookup resources / subjects, readable and --json', async () => {
    const projects = await cli(['lookup', 'resources', 'project', 'view_name'], env);
    expect(projects).toMatchObject({ code: EXIT.ok, stdout: 'project:p1' });
    const clusters = await cli(['lookup', 'resources', 'cluster', 'ssh', '--json'], env);
    expect(JSON.parse(clusters.stdout)).toEqual({ resourceIds: ['c1'] });
    const subjects = await cli(
      ['lookup', 'subjects', 'project:p1', 'read_settings', '--json'],
      env,
    );
    expect(JSON.parse(subjects.stdout)).toEqual({ subjectIds: ['alice', 'bob'] });
  });

  it('explain names the path of relations, and what is missing when denied', async () => {
    const granted = await cli(['explain', 'cluster:c1', 'ssh'], env);
    expect(granted.code).toBe(EXIT.ok);
    expect(granted.stdout).toMatch(/^ALLOWED/);
    expect(granted.stdout).toContain('path:    user:bob -> project:p1#member');
    const denied = await cli(['explain', 'cluster:c1', 'scale', '--json'], env);
    expect(denied.code).toBe(EXIT.no);
    const body = JSON.parse(denied.stdout) as { allowed: boolean; missing: string[] };
    expect(body.allowed).toBe(false);
    expect(body.missing).toContain('project:p1#admin');
  });

  it('watch prints the answer, then the change when access is revoked; --count ends it', async () => {
    const watching = cli(['watch', 'cluster:c1', 'ssh', '--count', '2', '--json'], env);
    const alice = await app.as('alice');
    // The first event is the current answer; revoke only once it has been printed.
    await expect.poll(() => app.services.live?.openSubscriptions ?? 0).toBe(1);
    await alice.project.removeCollaborator({ projectId: 'p1', userId: 'bob' });
    const result = await watching;
    expect(result.code).toBe(EXIT.ok);
    const events = result.stdout
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.map((e) => e.allowed)).toEqual([true, false]);
    expect(events[1]).toMatchObject({ resource: 'cluster:c1', permission: 'ssh' });
    expect(typeof events[1]?.id).toBe('string');
    await alice.project.addCollaborator({ projectId: 'p1', userId: 'bob' });

    const badCount = await cli(['watch', 'cluster:c1', 'ssh', '--count', '0'], env);
    expect(badCount.code).toBe(EXIT.usage);
    expect(badCount.stderr).toContain('--count');
  });

  it('the `authz` executable (bin/authz.js) runs the same check', async () => {
    const result = await spawnBin(['check', 'cluster:c1', 'ssh', '--json'], {
      ...process.env,
      ...env,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(EXIT.ok);
    expect(JSON.parse(result.stdout)).toMatchObject({ allowed: true, resource: 'cluster:c1' });
  });
});

const target = testTarget();
const noServer = target.mode !== 'server';
if (noServer) {
  if (process.env.CI === 'true')
    throw new Error('cli schema/import/export tests need a SpiceDB server');
  console.warn(
    '[cli] schema/import/export tests skipped: they need a SpiceDB server, tests use the embedded one',
  );
}

describe.skipIf(noServer)('authz CLI against SpiceDB directly', () => {
  let dir: string;
  let spicedbEnv: NodeJS.ProcessEnv;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'authz-cli-'));
    // A serve-testing preshared key of its own is an empty datastore of its own.
    spicedbEnv = {
      SPICEDB_ENDPOINT: target.mode === 'server' ? target.endpoint : '',
      SPICEDB_TOKEN: `cli-${randomUUID()}`,
      SPICEDB_INSECURE: 'true',
    };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('schema diff shows what write would change, then nothing once written', async () => {
    const before = await cli(['schema', 'diff', '--json'], spicedbEnv);
    expect(before.code).toBe(EXIT.no);
    const diff = JSON.parse(before.stdout) as { same: boolean; diff: string[] };
    expect(diff.same).toBe(false);
    expect(diff.diff).toContain('+ definition organization');

    const written = await cli(['schema', 'write'], spicedbEnv);
    expect(written.code).toBe(EXIT.ok);
    expect(written.stdout).toContain('wrote');

    const after = await cli(['schema', 'diff'], spicedbEnv);
    expect(after).toMatchObject({ code: EXIT.ok });
    expect(after.stdout).toContain('matches the schema in SpiceDB');

    // A local edit shows as the one difference SpiceDB's DiffSchema reports.
    const edited = path.join(dir, 'edited.zed');
    const schema = await readSchemaFile();
    writeFileSync(
      edited,
      schema.replace('definition user {', 'definition user {\n  relation pet: user'),
    );
    const changed = await cli(['schema', 'diff', edited], spicedbEnv);
    expect(changed.code).toBe(EXIT.no);
    expect(changed.stdout.split('\n').filter((l) => /^[+~-] /.test(l))).toEqual([
      '+ relation user#pet',
    ]);
  });

  it('import then export round-trips relationships through the bulk scripts', async () => {
    await cli(['schema', 'write'], spicedbEnv);
    const input = path.join(dir, 'in.txt');
    writeFileSync(
      input,
      [
        'organization:acme#owner@user:alice',
        'project:p1#organization@organization:acme',
        'project:p1#admin@user:alice',
        '',
      ].join('\n'),
    );
    const imported = await cli(['import', input, '--json'], { ...process.env, ...spicedbEnv });
    expect(imported).toMatchObject({ code: 0 });
    expect(JSON.parse(imported.stdout)).toMatchObject({ ok: true, read: 3 });

    const output = path.join(dir, 'out.ndjson');
    const exported = await spawnBin(['export', output], { ...process.env, ...spicedbEnv });
    expect(exported.code).toBe(0);
    const lines = readFileSync(output, 'utf8')
      .trim()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { resource: string; relation: string; subject: string });
    expect(lines).toEqual(
      expect.arrayContaining([
        { resource: 'organization:acme', relation: 'owner', subject: 'user:alice' },
        { resource: 'project:p1', relation: 'admin', subject: 'user:alice' },
        { resource: 'project:p1', relation: 'organization', subject: 'organization:acme' },
      ]),
    );
  });
});
