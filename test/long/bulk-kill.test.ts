/**
 * Crash safety of `npm run import`: the script, SpiceDB or PostgreSQL is killed mid-run, and
 * re-running the same command must leave exactly the file's relationships (and their derived
 * inverses) in the store: none missing, none extra. SpiceDB runs as `spicedb serve` on a
 * PostgreSQL instance of this suite's own, so crashing it disturbs no one else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCheckpointPath } from '../../src/bulk/checkpoint.js';
import { formatTuple } from '../../src/spicedb/proto.js';
import { sampleRelationship, writeSampleFile } from '../../testkit/bulk-sample.js';
import {
  bulkCallPolicy,
  exportStream,
  fromProto,
  type BulkClient,
} from '../../src/bulk/spicedb-bulk.js';
import { connectRemote, readSchemaFile } from '../../src/spicedb/connection.js';
import {
  requirePostgresBin,
  startOwnPostgres,
  type PostgresProcess,
} from '../../testkit/postgres-process.js';
import { requireSpiceDbBinary } from '../../testkit/spicedb-binary.js';
import { startSpiceDb, type SpiceDbProcess } from '../../testkit/spicedb-process.js';

// A missing part fails the suite (never a skip).
const binary = requireSpiceDbBinary();
const pgBin = requirePostgresBin();

const repoRoot = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'bulk-kill-'));
const LINES = 40_000;
let postgres: PostgresProcess | undefined;
let schemaText = '';
let databases = 0;

interface Server {
  spicedb: SpiceDbProcess;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A fresh database, migrated, with `spicedb serve` on it and schema.zed written. */
async function freshServer(): Promise<Server> {
  const pg = postgres as PostgresProcess;
  const database = `bulk_kill_${(databases += 1)}`;
  pg.psql('postgres', `CREATE DATABASE ${database}`);
  const spicedb = await startSpiceDb({
    datastore: 'postgres',
    binary,
    datastoreUri: pg.connUri(database),
    schema: schemaText,
  });
  return {
    spicedb,
    env: { ...spicedb.env, BULK_PROGRESS_INTERVAL_MS: '1000' },
    close: () => spicedb.stop(),
  };
}

async function withClient<T>(spicedb: SpiceDbProcess, use: (c: BulkClient) => Promise<T>) {
  const connection = connectRemote({
    endpoint: spicedb.endpoint,
    token: spicedb.token,
    insecure: true,
  });
  try {
    return await use(connection.client as BulkClient);
  } finally {
    connection.close();
  }
}

async function stored(spicedb: SpiceDbProcess): Promise<string[]> {
  return withClient(spicedb, async (client) => {
    const keys: string[] = [];
    for await (const page of exportStream(
      client,
      undefined,
      5000,
      bulkCallPolicy(),
    ) as AsyncIterable<{
      relationships: Parameters<typeof fromProto>[0][];
    }>) {
      for (const r of page.relationships) keys.push(formatTuple(fromProto(r)));
    }
    return keys.sort();
  });
}

function expectedSample(count: number): string[] {
  const keys = new Set<string>();
  for (let i = 0; i < count; i += 1) {
    const t = sampleRelationship(i);
    keys.add(formatTuple(t));
    if (t.relation === 'organization') {
      keys.add(`organization:${t.subjectId}#project@project:${t.resourceId}`);
    }
  }
  return [...keys].sort();
}

interface Run {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
}

function startImport(file: string, args: string[], env: Record<string, string>): Run {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'scripts/import.ts'), file, ...args],
    { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<{
    code: number | null;
    signal: string | null;
    stdout: string;
    stderr: string;
  }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Waits until the checkpoint records committed lines (the run is well under way). */
async function committedLine(file: string, atLeast: number, run: Run): Promise<number> {
  const checkpoint = defaultCheckpointPath(file, 'import');
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (run.child.exitCode !== null)
      throw new Error(`the import ended before the kill: ${(await run.done).stdout}`);
    if (existsSync(checkpoint)) {
      try {
        const line = (JSON.parse(readFileSync(checkpoint, 'utf8')) as { committedLine: number })
          .committedLine;
        if (line >= atLeast) return line;
      } catch {
        // replaced while being read; look again
      }
    }
    await sleep(50);
  }
  throw new Error('no progress recorded within 120 s');
}

async function sampleFile(name: string): Promise<string> {
  const file = path.join(dir, name);
  await writeSampleFile(file, LINES, 'zed');
  return file;
}

beforeAll(async () => {
  schemaText = await readSchemaFile();
  postgres = await startOwnPostgres(pgBin);
});
afterAll(() => {
  postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('bulk import survives kills', () => {
  it.each(['touch', 'create'])(
    'SIGKILL of the %s import script mid-run, then the same command finishes it exactly',
    async (mode) => {
      const server = await freshServer();
      try {
        const file = await sampleFile(`script-kill-${mode}.txt`);
        const args = ['--mode', mode, '--chunk-size', '2000'];
        const first = startImport(file, args, server.env);
        const line = await committedLine(file, 1, first);
        first.child.kill('SIGKILL');
        expect((await first.done).signal).toBe('SIGKILL');
        const partial = await stored(server.spicedb);
        expect(partial.length).toBeGreaterThan(0);
        expect(partial.length).toBeLessThan(expectedSample(LINES).length);

        const second = await startImport(file, args, server.env).done;
        expect(second.code, second.stderr).toBe(0);
        expect(second.stderr).toMatch(/resuming from .*: lines up to \d+ are committed/);
        const skipped = Number(/skipped ([\d,]+)/.exec(second.stdout)?.[1]?.replace(/,/g, ''));
        expect(skipped).toBeGreaterThanOrEqual(line);
        expect(await stored(server.spicedb)).toEqual(expectedSample(LINES));
        expect(existsSync(defaultCheckpointPath(file, 'import'))).toBe(false);
      } finally {
        await server.close();
      }
    },
  );

  it('SpiceDB killed mid-run: the import stops with a checkpoint; after a restart the re-run finishes exactly', async () => {
    const server = await freshServer();
    try {
      const file = await sampleFile('spicedb-kill.txt');
      const args = ['--mode', 'touch', '--max-attempts', '2', '--timeout-ms', '5000'];
      const first = startImport(file, args, server.env);
      await committedLine(file, 1, first);
      await server.spicedb.kill();
      const failed = await first.done;
      expect(failed.code).toBe(3);
      expect(failed.stdout).toMatch(
        /stopped after a failed write \(UNAVAILABLE.*re-run the same command/,
      );

      await server.spicedb.restart();
      const second = await startImport(file, args, server.env).done;
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(await stored(server.spicedb)).toEqual(expectedSample(LINES));
    } finally {
      await server.close();
    }
  });

  it('SpiceDB killed under create streams and back within the retry window: the run reads back and finishes', async () => {
    const server = await freshServer();
    try {
      const file = await sampleFile('spicedb-bounce.txt');
      const run = startImport(file, ['--mode', 'create', '--chunk-size', '2000'], server.env);
      await committedLine(file, 1, run);
      await server.spicedb.kill();
      await sleep(500);
      await server.spicedb.restart();
      const result = await run.done;
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toMatch(/read back|fell back to TOUCH/);
      expect(await stored(server.spicedb)).toEqual(expectedSample(LINES));
    } finally {
      await server.close();
    }
  });

  it('PostgreSQL crashed mid-run: after it restarts the re-run finishes exactly', async () => {
    const server = await freshServer();
    try {
      const file = await sampleFile('postgres-kill.txt');
      const args = [
        '--mode',
        'create',
        '--chunk-size',
        '2000',
        '--max-attempts',
        '2',
        '--timeout-ms',
        '5000',
      ];
      const first = startImport(file, args, server.env);
      await committedLine(file, 1, first);
      postgres?.crash();
      const failed = await first.done;
      postgres?.start();
      expect(failed.code, failed.stdout).not.toBe(0);
      const second = await startImport(file, args, server.env).done;
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(await stored(server.spicedb)).toEqual(expectedSample(LINES));
    } finally {
      await server.close();
    }
  });
});
