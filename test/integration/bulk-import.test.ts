import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCheckpointPath, writeCheckpoint } from '../../src/bulk/checkpoint.js';
import { runExport } from '../../src/bulk/export.js';
import type { BulkFormat } from '../../src/bulk/formats.js';
import { runImport, type ImportOptions } from '../../src/bulk/import.js';
import { formatTuple, v1 } from '../../src/spicedb/proto.js';
import { sampleRelationship, writeSampleFile } from '../../testkit/bulk-sample.js';
import {
  exportStream,
  bulkCallPolicy,
  fromProto,
  type BulkClient,
} from '../../src/bulk/spicedb-bulk.js';
import {
  connectRemote,
  readSchemaFile,
  type SpiceDbConnection,
} from '../../src/spicedb/connection.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { toProto } from '../../src/bulk/spicedb-bulk.js';
import { parseRelationship } from '../../src/bulk/relationship.js';
import { testTarget } from '../support/spicedb.js';

const target = testTarget();
const requireServer = process.env.CI === 'true';
if (target.mode !== 'server') {
  if (requireServer) throw new Error('bulk import tests need a real SpiceDB server in CI');
  console.warn(`bulk import tests skipped: they need a SpiceDB server (${target.source})`);
}
const endpoint = target.mode === 'server' ? target.endpoint : '';
const repoRoot = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'bulk-it-'));
let schemaText = '';
const opened: SpiceDbConnection[] = [];

interface Store {
  client: BulkClient;
  token: string;
}

/** An empty datastore of its own: a new serve-testing preshared key, schema.zed written. */
async function freshStore(): Promise<Store> {
  const token = `bulk-${randomUUID()}`;
  const connection = connectRemote({ endpoint, token, insecure: true });
  opened.push(connection);
  const client = connection.client as BulkClient;
  await client.promises.writeSchema({ schema: schemaText });
  return { client, token };
}

async function stored(client: BulkClient): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of exportStream(
    client,
    undefined,
    1000,
    bulkCallPolicy(),
  ) as AsyncIterable<{
    relationships: Parameters<typeof fromProto>[0][];
  }>) {
    for (const r of page.relationships) keys.push(formatTuple(fromProto(r)));
  }
  return keys.sort();
}

/** What a file of `count` sample lines must leave in an empty store: its lines and the inverses. */
function expectedSample(count: number, prefix = ''): string[] {
  const keys = new Set<string>();
  for (let i = 0; i < count; i += 1) {
    const t = sampleRelationship(i, prefix);
    keys.add(formatTuple(t));
    if (t.relation === 'organization') {
      keys.add(`organization:${t.subjectId}#project@project:${t.resourceId}`);
    }
  }
  return [...keys].sort();
}

const quiet = { progress: false, log: () => {} } as const;

function importInto(store: Store, options: Omit<ImportOptions, 'client'>) {
  return runImport({ ...quiet, ...options, client: store.client });
}

function writeLines(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function runScript(
  script: 'import' | 'export',
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'scripts', `${script}.ts`), ...args],
      { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  schemaText = await readSchemaFile();
});
afterAll(() => {
  for (const connection of opened) connection.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(target.mode !== 'server')('bulk import into a real SpiceDB', () => {
  const SIZE = 3_000;

  it.each(['zed', 'ndjson', 'csv', 'yaml'] as BulkFormat[])(
    'loads a %s file: every line and the derived inverses, nothing else',
    async (format) => {
      const extension = { zed: 'txt', ndjson: 'ndjson', csv: 'csv', yaml: 'yaml' }[format];
      const file = path.join(dir, `sample-${format}.${extension}`);
      await writeSampleFile(file, SIZE, format, { schemaText });
      const store = await freshStore();
      const summary = await importInto(store, { file, mode: 'touch' });
      expect(summary).toMatchObject({ ok: true, read: SIZE, failed: 0, derived: SIZE / 20 });
      expect(summary.written).toBe(SIZE + SIZE / 20);
      expect(await stored(store.client)).toEqual(expectedSample(SIZE));
      expect(existsSync(defaultCheckpointPath(file, 'import'))).toBe(false);
    },
  );

  it('writes nothing of a file with an invalid line and names every bad line', async () => {
    const file = writeLines('invalid.txt', [
      'project:p1#admin@user:alice',
      'project:p1#owner@user:alice',
      'project:p1#organization@organization:acme',
      'team:t1#member@user:bob',
      'project:p1#admin@user:al*ce',
      ...Array.from({ length: 2000 }, (_, i) => `project:q${i}#member@user:u${i}`),
    ]);
    const store = await freshStore();
    const log: string[] = [];
    const summary = await runImport({
      file,
      mode: 'create',
      client: store.client,
      progress: false,
      log: (line) => log.push(line),
    });
    expect(summary.ok).toBe(false);
    expect(summary).toMatchObject({ read: 2005, invalid: 3, written: 0, failed: 3 });
    expect(summary.problems.map((p) => p.line)).toEqual([2, 4, 5]);
    expect(log).toEqual([
      expect.stringMatching(/invalid\.txt:2: unknown relation "owner" on project/),
      expect.stringMatching(/invalid\.txt:4: unknown resource type "team"/),
      expect.stringMatching(/invalid\.txt:5: subject id "al\*ce" must match/),
    ]);
    expect(await stored(store.client)).toEqual([]);
  });

  it('dry run validates and counts, writes nothing', async () => {
    const file = path.join(dir, 'dry.ndjson');
    await writeSampleFile(file, 1000, 'ndjson');
    const store = await freshStore();
    const summary = await importInto(store, { file, mode: 'touch', dryRun: true });
    expect(summary).toMatchObject({
      ok: true,
      read: 1000,
      invalid: 0,
      written: 0,
      wouldWrite: 1050,
      derived: 50,
    });
    expect(await stored(store.client)).toEqual([]);
  });

  it('touch re-runs to the same set; create on a store that holds part of it writes the rest', async () => {
    const file = path.join(dir, 'rerun.txt');
    await writeSampleFile(file, SIZE, 'zed');
    const half = path.join(dir, 'half.txt');
    await writeSampleFile(half, SIZE / 2, 'zed');
    const store = await freshStore();
    expect((await importInto(store, { file: half, mode: 'touch' })).ok).toBe(true);
    // 10 chunks of 300: the first five meet existing relationships, the rest are new
    const create = await importInto(store, { file, mode: 'create', chunkSize: 300 });
    expect(create).toMatchObject({ ok: true, failed: 0 });
    expect(create.fallbacks).toBeGreaterThanOrEqual(5);
    expect(create.fallbacks).toBeLessThan(create.written / 300);
    expect(await stored(store.client)).toEqual(expectedSample(SIZE));
    const again = await importInto(store, { file, mode: 'touch' });
    expect(again).toMatchObject({ ok: true, failed: 0, written: SIZE + SIZE / 20 });
    expect(await stored(store.client)).toEqual(expectedSample(SIZE));
  });

  it('create mode does not trip over an inverse the file also states', async () => {
    const lines = [
      ...Array.from({ length: 600 }, (_, i) => `organization:o${i % 7}#project@project:p${i}`),
      ...Array.from({ length: 600 }, (_, i) => `project:p${i}#organization@organization:o${i % 7}`),
      'project:p1#admin@user:alice',
      'project:p1#admin@user:alice',
    ];
    const file = writeLines('explicit-inverse.txt', lines);
    const store = await freshStore();
    const summary = await importInto(store, { file, mode: 'create', chunkSize: 250 });
    expect(summary).toMatchObject({ ok: true, derived: 0, fallbacks: 0, written: 1201 });
    expect(await stored(store.client)).toEqual([...new Set(lines)].sort());
  });

  it('delete mode removes the file and its inverses, and only those', async () => {
    const file = path.join(dir, 'all.txt');
    await writeSampleFile(file, 2000, 'zed');
    const some = path.join(dir, 'some.txt');
    await writeSampleFile(some, 1000, 'zed');
    const store = await freshStore();
    await importInto(store, { file, mode: 'touch' });
    const deleted = await importInto(store, { file: some, mode: 'delete' });
    expect(deleted).toMatchObject({ ok: true, written: 1050 });
    const first = new Set(expectedSample(1000));
    expect(await stored(store.client)).toEqual(expectedSample(2000).filter((k) => !first.has(k)));
  });

  it('resumes after the line a checkpoint records, and ignores a checkpoint of another mode', async () => {
    const file = path.join(dir, 'resume.txt');
    await writeSampleFile(file, 2000, 'zed');
    const stat = statSync(file);
    const checkpointPath = path.join(dir, 'resume.checkpoint.json');
    const checkpoint = (mode: string) =>
      writeCheckpoint(checkpointPath, {
        kind: 'import',
        version: 1,
        file: { path: file, size: stat.size, mtimeMs: Math.trunc(stat.mtimeMs) },
        mode,
        committedLine: 1000,
        updatedAt: new Date().toISOString(),
      });
    const store = await freshStore();
    checkpoint('touch');
    const resumed = await importInto(store, { file, mode: 'touch', checkpointPath });
    expect(resumed).toMatchObject({
      ok: true,
      skipped: 1000,
      resumedFromLine: 1000,
      written: 1050,
    });
    const firstHalf = new Set(expectedSample(1000));
    expect(await stored(store.client)).toEqual(
      expectedSample(2000).filter((k) => !firstHalf.has(k)),
    );
    expect(existsSync(checkpointPath)).toBe(false);

    checkpoint('delete');
    const other = await freshStore();
    const fresh = await importInto(other, { file, mode: 'touch', checkpointPath });
    expect(fresh).toMatchObject({ ok: true, skipped: 0, resumedFromLine: 0 });
    expect(await stored(other.client)).toEqual(expectedSample(2000));
  });

  it.each(['zed', 'ndjson', 'csv', 'yaml'] as BulkFormat[])(
    'export to %s then import into an empty store reproduces the store exactly',
    async (format) => {
      const source = await freshStore();
      const file = path.join(dir, 'roundtrip-source.txt');
      await writeSampleFile(file, SIZE, 'zed', { prefix: 'rt' });
      await importInto(source, { file, mode: 'touch' });
      // an inverse without its project#organization pair survives the round trip too
      writeFileSync(path.join(dir, 'extra.txt'), 'organization:lonely#project@project:solo\n');
      await importInto(source, { file: path.join(dir, 'extra.txt'), mode: 'touch' });
      const before = await stored(source.client);

      const extension = { zed: 'zed', ndjson: 'jsonl', csv: 'csv', yaml: 'yml' }[format];
      const exported = path.join(dir, `export-${randomUUID()}.${extension}`);
      const exportSummary = await runExport({
        ...quiet,
        file: exported,
        client: source.client,
        pageSize: 500,
      });
      expect(exportSummary).toMatchObject({ ok: true, written: before.length });

      const target = await freshStore();
      const load = await importInto(target, { file: exported, mode: 'create' });
      expect(load).toMatchObject({ ok: true, fallbacks: 0, derived: 0, written: before.length });
      expect(await stored(target.client)).toEqual(before);
    },
  );

  it('an interrupted export resumes from its cursor without losing or repeating a line', async () => {
    const source = await freshStore();
    const file = path.join(dir, 'export-resume-source.txt');
    await writeSampleFile(file, SIZE, 'zed');
    await importInto(source, { file, mode: 'touch' });
    const out = path.join(dir, 'resumed.csv');
    let stoppedAt = 0;
    const first = await runExport({
      ...quiet,
      file: out,
      client: source.client,
      pageSize: 400,
      onPage: (count) => {
        if (count >= 1000) {
          stoppedAt = count;
          throw new Error('stopped by the test');
        }
      },
    });
    expect(stoppedAt).toBeGreaterThanOrEqual(1000);
    expect(stoppedAt).toBeLessThan(SIZE);
    expect(first).toMatchObject({ ok: false, written: stoppedAt });
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(true);
    // bytes written after the checkpoint (a crash mid-page) are cut on resume
    writeFileSync(`${out}.partial`, 'project:garbage,admin,user:x\n', { flag: 'a' });
    const second = await runExport({ ...quiet, file: out, client: source.client, pageSize: 400 });
    expect(second).toMatchObject({ ok: true, resumedAt: stoppedAt, written: SIZE + SIZE / 20 });
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('resource,relation,subject');
    const keys = lines.slice(1).map((l) => {
      const [resource, relation, subject] = l.split(',');
      return `${resource}#${relation}@${subject}`;
    });
    expect(keys.sort()).toEqual(await stored(source.client));
  });

  it('the scripts: exit codes, messages on stderr, the one-line summary on stdout', async () => {
    const store = await freshStore();
    const env = {
      SPICEDB_ENDPOINT: endpoint,
      SPICEDB_TOKEN: store.token,
      SPICEDB_INSECURE: 'true',
    };
    const file = path.join(dir, 'cli.ndjson');
    await writeSampleFile(file, 500, 'ndjson');

    const ok = await runScript('import', [file, '--mode', 'create'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^import create: read 500, written 525 \(25 derived\), skipped 0, failed 0, /,
      ),
    ]);

    const bad = writeLines('cli-bad.csv', [
      'resource,relation,subject',
      'project:p1,admin,user:a',
      'project:p1,boss,user:b',
    ]);
    const invalid = await runScript('import', [bad], env);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/cli-bad\.csv:3: unknown relation "boss" on project/);
    expect(invalid.stdout).toMatch(/failed 1, .* nothing was written/);

    const usage = await runScript('import', [file, '--mode', 'upsert'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(
      /'--mode <mode>' argument .* Allowed choices are touch, create, delete/,
    );

    const noServer = await runScript('import', [file, '--max-attempts', '2'], {
      ...env,
      SPICEDB_ENDPOINT: '127.0.0.1:1',
    });
    expect(noServer.code).toBe(3);
    expect(noServer.stdout).toMatch(
      /failed 0, .*cannot read the schema of SpiceDB .*nothing was written/,
    );

    const out = path.join(dir, 'cli-export.txt');
    const exported = await runScript('export', [out], env);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toMatch(/^export: written 525, failed 0/);
    expect(readFileSync(out, 'utf8').trim().split('\n').sort()).toEqual(await stored(store.client));
  });
});

/** test/fixtures/import/schema.zed: subject sets, nested groups, a wildcard, a caveat, expiration. */
const FIXTURE_SCHEMA = path.join(repoRoot, 'test/fixtures/import/schema.zed');

describe.skipIf(target.mode !== 'server')('importing every relationship SpiceDB accepts', () => {
  /** An empty datastore with no schema at all, and a gateway for writing one. */
  function emptyStore(): Store & { gateway: SpiceDbGateway } {
    const token = `bulk-${randomUUID()}`;
    const connection = connectRemote({ endpoint, token, insecure: true });
    opened.push(connection);
    const gateway = new SpiceDbGateway(connection, { timeoutMs: 10_000, checkBatching: false });
    return { client: connection.client as BulkClient, token, gateway };
  }

  const ACCEPTED = [
    'doc:d1#owner@user:alice#...',
    'doc:d1#viewer@group:eng#member',
    'group:eng#member@group:backend#member',
    'group:backend#member@user:bob',
    'group:backend#member@user:tmp[expiration:2031-01-01T00:00:00Z]',
    'doc:d1#viewer@user:*',
    'doc:d2#viewer@user:carol[on_network:{"cidr":"10.0.0.0/8"}]',
    'doc:d2#viewer@user:dave[on_network]',
    'doc:d2#guest@user:erin[expiration:2030-06-30T12:00:00.5Z]',
    'doc:d2#visitor@user:fay[on_network:{"cidr":"192.168.0.0/16"}][expiration:2030-01-01T00:00:00Z]',
  ];
  /** what SpiceDB stores and exports for ACCEPTED (`#...` is the subject itself) */
  const STORED = ACCEPTED.map((line) => formatTuple(parseRelationship(line))).sort();

  it('--schema FILE writes the schema first, then loads subject sets, caveats and expirations', async () => {
    const store = emptyStore();
    const file = writeLines('every-form.txt', ACCEPTED);
    const summary = await runImport({
      ...quiet,
      file,
      mode: 'touch',
      client: store.client,
      gateway: store.gateway,
      schemaText: readFileSync(FIXTURE_SCHEMA, 'utf8'),
    });
    expect(summary).toMatchObject({ ok: true, read: ACCEPTED.length, written: ACCEPTED.length });
    expect(await stored(store.client)).toEqual(STORED);
    expect(STORED).toContain('doc:d1#owner@user:alice');
    expect(STORED).toContain('doc:d2#guest@user:erin[expiration:2030-06-30T12:00:00.500Z]');
    expect(STORED).toContain('group:backend#member@user:tmp[expiration:2031-01-01T00:00:00.000Z]');
  });

  it.each(['zed', 'ndjson', 'csv', 'yaml'] as BulkFormat[])(
    'export to %s and import into an empty store keeps caveats, expirations and subject sets',
    async (format) => {
      const schema = readFileSync(FIXTURE_SCHEMA, 'utf8');
      const source = emptyStore();
      await source.gateway.writeSchema(schema);
      await importInto(source, { file: writeLines('rt-every-form.txt', ACCEPTED), mode: 'touch' });
      const extension = { zed: 'zed', ndjson: 'ndjson', csv: 'csv', yaml: 'yaml' }[format];
      const exported = path.join(dir, `every-form-${randomUUID()}.${extension}`);
      expect(await runExport({ ...quiet, file: exported, client: source.client })).toMatchObject({
        ok: true,
        written: ACCEPTED.length,
      });
      const copy = emptyStore();
      await copy.gateway.writeSchema(schema);
      const load = await importInto(copy, { file: exported, mode: 'create' });
      expect(load).toMatchObject({ ok: true, written: ACCEPTED.length });
      expect(await stored(copy.client)).toEqual(STORED);
    },
  );

  it('refuses what SpiceDB refuses, line by line, as a write of that line alone would', async () => {
    // each passes the grammar; whether it fits is SpiceDB's call (ReflectSchema does not say
    // which subject types take an expiration, nor checks a caveat's context types)
    const lines = [
      ...ACCEPTED,
      'doc:d3#guest@user:a',
      'doc:d3#owner@user:a[expiration:2030-01-01T00:00:00Z]',
      'doc:d3#viewer@user:a[on_network:{"cidr":3}]',
      'doc:d3#viewer@user:a[on_network:{"port":1}]',
      'doc:d3#viewer@group:eng',
      'doc:d3#owner@user:*',
      'doc:d3#view@user:a',
      'doc:d3#visitor@user:a[on_network]',
    ];
    const schema = readFileSync(FIXTURE_SCHEMA, 'utf8');
    const alone = async (line: string) => {
      const probe = emptyStore();
      await probe.gateway.writeSchema(schema);
      try {
        await probe.client.promises.writeRelationships({
          updates: [
            {
              operation: v1.RelationshipUpdate_Operation.CREATE,
              relationship: toProto(parseRelationship(line)),
            },
          ],
          optionalPreconditions: [],
        });
        return 'accepted';
      } catch {
        return 'refused';
      }
    };
    const direct = await Promise.all(lines.map(alone));
    const store = emptyStore();
    await store.gateway.writeSchema(schema);
    const log: string[] = [];
    const summary = await runImport({
      ...quiet,
      file: writeLines('twins.txt', lines),
      mode: 'touch',
      client: store.client,
      log: (line) => log.push(line),
    });
    const refusedLines = new Set(summary.problems.map((p) => p.line));
    expect(lines.map((_, i) => (refusedLines.has(i + 1) ? 'refused' : 'accepted'))).toEqual(direct);
    expect(direct.filter((v) => v === 'refused')).toHaveLength(lines.length - ACCEPTED.length);
    expect(log.join('\n')).toMatch(
      /twins\.txt:11: SpiceDB refuses it: .*did you mean `user with expiration`/,
    );
    expect(summary).toMatchObject({ ok: false, written: 0 });
    expect(await stored(store.client)).toEqual([]);
  });

  it('says plainly when SpiceDB holds no schema, and writes nothing', async () => {
    const store = emptyStore();
    const summary = await importInto(store, {
      file: writeLines('no-schema.txt', ['doc:d1#owner@user:a']),
      mode: 'touch',
    });
    expect(summary.ok).toBe(false);
    expect(summary.error).toMatch(/SpiceDB holds no schema/);
    expect(summary.error).toMatch(/--schema FILE/);
    expect(summary.error).not.toMatch(/re-run the same command/);
  });

  it('--schema FILE that would orphan stored relationships is refused by SpiceDB, nothing is written', async () => {
    const store = emptyStore();
    await store.gateway.writeSchema(readFileSync(FIXTURE_SCHEMA, 'utf8'));
    await importInto(store, { file: writeLines('orphan-first.txt', ACCEPTED), mode: 'touch' });
    const summary = await runImport({
      ...quiet,
      file: writeLines('orphan-second.txt', ['project:p1#admin@user:a']),
      mode: 'touch',
      client: store.client,
      gateway: store.gateway,
      schemaText,
    });
    expect(summary.ok).toBe(false);
    expect(summary.error).toMatch(/SpiceDB refused the schema: .*nothing was written/);
    expect(await stored(store.client)).toEqual(STORED);
  });

  it('the command: --schema FILE on an empty SpiceDB, and the no-schema message', async () => {
    const store = emptyStore();
    const env = {
      SPICEDB_ENDPOINT: endpoint,
      SPICEDB_TOKEN: store.token,
      SPICEDB_INSECURE: 'true',
    };
    const yaml = path.join(dir, 'every-form.yaml');
    writeFileSync(
      yaml,
      `schemaFile: schema.zed\nrelationships: >-\n${ACCEPTED.map((l) => `  ${l}`).join('\n\n')}\n`,
    );
    const noSchema = await runScript('import', [yaml], env);
    expect(noSchema.code).toBe(3);
    expect(noSchema.stdout).toMatch(/SpiceDB holds no schema/);
    const ok = await runScript('import', [yaml, '--schema', FIXTURE_SCHEMA], env);
    expect(ok.stdout).toMatch(/^import touch: read 10, written 10 /);
    expect(ok.code).toBe(0);
    expect(await stored(store.client)).toEqual(STORED);
  });
});
