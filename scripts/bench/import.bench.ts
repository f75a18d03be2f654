/**
 * Bulk import benchmark (`npm run bench import`), measured side by side in one run against the
 * same kind of server and the same generated file:
 *   - `npm run import -- FILE --mode create` vs a bare ImportBulkRelationships loop written
 *     directly with authzed-node (target: at least 0.9x its rate);
 *   - `npm run import -- FILE --mode touch` (the default) vs sequential 1,000-relationship
 *     WriteRelationships TOUCH calls (target: at least 2x);
 *   - peak RSS of the import process (target: under 256 MB for 1,000,000 lines).
 * Every measurement gets a fresh datastore: a new PostgreSQL database on the machine's server
 * (127.0.0.1:5432, or BENCH_POSTGRES_URL), migrated, with its own `spicedb serve`. Each side
 * runs as its own child process, timed from spawn to exit, so both pay the same start-up cost.
 * Each pair runs in A B B A order (BENCH_REPEATS rounds, default 1) to cancel the drift of a
 * shared machine's load. Sizes: BENCH_IMPORT_LINES (default 1,000,000) for create, BENCH_TOUCH_LINES (default 200,000)
 * for touch. Writes bench/results/import.json.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Metadata } from '@grpc/grpc-js';
import { v1 } from '@authzed/authzed-node';
import { writeSampleFile } from '../../testkit/bulk-sample.js';
import { readSchemaFile } from '../../src/spicedb/connection.js';
import { postgresAvailable } from '../../testkit/postgres.js';
import { ensureSpiceDbBinary } from '../../testkit/spicedb-binary.js';
import { startSpiceDb } from '../../testkit/spicedb-process.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const thisFile = fileURLToPath(import.meta.url);

/** The relationship of one zed-notation line, the way a direct client would build it. */
function relationshipOf(line: string): v1.Relationship {
  const [resource = '', rest = ''] = line.split('#', 2);
  const [relation = '', subject = ''] = rest.split('@', 2);
  const [resourceType = '', resourceId = ''] = resource.split(':', 2);
  const [subjectType = '', subjectId = ''] = subject.split(':', 2);
  return v1.Relationship.create({
    resource: v1.ObjectReference.create({ objectType: resourceType, objectId: resourceId }),
    relation,
    subject: v1.SubjectReference.create({
      object: v1.ObjectReference.create({ objectType: subjectType, objectId: subjectId }),
    }),
  });
}

/** Baselines, run as a child process of the benchmark: `import.bench.ts --baseline create|touch FILE`. */
async function baseline(kind: 'create' | 'touch', file: string): Promise<void> {
  const client = v1.NewClient(
    process.env.SPICEDB_TOKEN ?? '',
    process.env.SPICEDB_ENDPOINT ?? '',
    v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS,
  );
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let count = 0;
  if (kind === 'create') {
    // Streams of BARE_STREAM relationships one after the other (SpiceDB ends a stream whose
    // answer takes over 30 s, so one stream cannot carry a million), messages of 1,000,
    // honouring backpressure.
    const streamSize = Number(process.env.BENCH_BARE_STREAM ?? 50_000);
    let stream: ReturnType<typeof client.importBulkRelationships> | undefined;
    let done: Promise<void> = Promise.resolve();
    let inStream = 0;
    let batch: v1.Relationship[] = [];
    const open = () => {
      done = new Promise<void>((resolve, reject) => {
        stream = client.importBulkRelationships(
          new Metadata(),
          { deadline: new Date(Date.now() + 600_000) },
          (error) => (error ? reject(error) : resolve()),
        );
      });
      inStream = 0;
    };
    const send = async () => {
      if (!stream) open();
      const current = stream as NonNullable<typeof stream>;
      inStream += batch.length;
      if (!current.write(v1.ImportBulkRelationshipsRequest.create({ relationships: batch }))) {
        await once(current, 'drain');
      }
      batch = [];
      if (inStream >= streamSize) {
        current.end();
        await done;
        stream = undefined;
      }
    };
    for await (const line of lines) {
      if (line === '') continue;
      batch.push(relationshipOf(line));
      count += 1;
      if (batch.length === 1_000) await send();
    }
    if (batch.length > 0) await send();
    if (stream) {
      stream.end();
      await done;
    }
  } else {
    let batch: v1.RelationshipUpdate[] = [];
    const flush = async () => {
      await client.promises.writeRelationships(
        v1.WriteRelationshipsRequest.create({ updates: batch }),
        new Metadata(),
        { deadline: new Date(Date.now() + 60_000) },
      );
      batch = [];
    };
    for await (const line of lines) {
      if (line === '') continue;
      batch.push(
        v1.RelationshipUpdate.create({
          operation: v1.RelationshipUpdate_Operation.TOUCH,
          relationship: relationshipOf(line),
        }),
      );
      count += 1;
      if (batch.length === 1_000) await flush();
    }
    if (batch.length > 0) await flush();
  }
  client.close();
  process.stdout.write(
    `${JSON.stringify({ relationships: count, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`,
  );
}

interface Measured {
  name: string;
  lines: number;
  relationshipsWritten: number;
  seconds: number;
  linesPerSecond: number;
  peakRssMb: number;
  summary: string;
}

async function timeChild(
  name: string,
  args: string[],
  env: Record<string, string>,
  lines: number,
): Promise<Measured> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env, BULK_PROGRESS_INTERVAL_MS: '600000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${name} exited with ${code}: ${stdout}`);
  const last = stdout.trim().split('\n').at(-1) ?? '';
  let written: number;
  let peakRssMb: number;
  if (last.startsWith('{')) {
    const parsed = JSON.parse(last) as { relationships: number; peakRssMb: number };
    written = parsed.relationships;
    peakRssMb = parsed.peakRssMb;
  } else {
    written = Number(/written ([\d,]+)/.exec(last)?.[1]?.replace(/,/g, '') ?? 0);
    peakRssMb = Number(/peak RSS (\d+) MB/.exec(last)?.[1] ?? 0);
  }
  const result = {
    name,
    lines,
    relationshipsWritten: written,
    seconds: Math.round(seconds * 100) / 100,
    linesPerSecond: Math.round(lines / seconds),
    peakRssMb,
    summary: last,
  };
  console.log(
    `  ${name.padEnd(46)} ${result.seconds.toFixed(1).padStart(7)} s ${result.linesPerSecond.toLocaleString('en-US').padStart(9)} lines/s  RSS ${peakRssMb} MB`,
  );
  return result;
}

async function measure(
  name: string,
  args: string[],
  lines: number,
  schemaText: string,
  binary: string,
): Promise<Measured> {
  const server = await startSpiceDb({
    datastore: 'postgres',
    binary,
    schema: schemaText,
    databasePrefix: 'spicedb_bench_import',
    ...(process.env.BENCH_POSTGRES_URL ? { postgresUrl: process.env.BENCH_POSTGRES_URL } : {}),
  });
  try {
    return await timeChild(name, args, server.env, lines);
  } finally {
    await server.stop();
  }
}

/** Several runs of one side as one figure: total lines over total seconds, the worst RSS. */
function combine(runs: Measured[]): Measured & { runs: Measured[] } {
  const first = runs[0] as Measured;
  const lines = runs.reduce((sum, r) => sum + r.lines, 0);
  const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
  return {
    ...first,
    lines: first.lines,
    seconds: Math.round((seconds / runs.length) * 100) / 100,
    linesPerSecond: Math.round(lines / seconds),
    peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
    runs,
  };
}

async function main(): Promise<void> {
  const createLines = Number(process.env.BENCH_IMPORT_LINES ?? 1_000_000);
  const touchLines = Number(process.env.BENCH_TOUCH_LINES ?? 200_000);
  if (!postgresAvailable(process.env.BENCH_POSTGRES_URL)) {
    throw new Error(
      'the import benchmark needs PostgreSQL at 127.0.0.1:5432 (or BENCH_POSTGRES_URL)',
    );
  }
  const binary = ensureSpiceDbBinary();
  const schemaText = await readSchemaFile();
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-import-'));
  try {
    const createFile = path.join(dir, 'create.txt');
    const touchFile = path.join(dir, 'touch.txt');
    await writeSampleFile(createFile, createLines, 'zed');
    await writeSampleFile(touchFile, touchLines, 'zed');
    console.log(
      `bulk import: ${createLines.toLocaleString('en-US')} lines (create), ${touchLines.toLocaleString('en-US')} lines (touch); spicedb serve on a fresh PostgreSQL database per measurement`,
    );
    const script = path.join(repoRoot, 'scripts/import.ts');
    // The machine is shared, so its load drifts: each pair runs in A B B A order (BENCH_REPEATS
    // rounds of two) and each side's rate is its total lines over its total time.
    const repeats = Number(process.env.BENCH_REPEATS ?? 1);
    const pair = async (
      first: [string, string[]],
      second: [string, string[]],
      lines: number,
    ): Promise<[Measured, Measured]> => {
      const runs: [Measured[], Measured[]] = [[], []];
      for (let round = 0; round < repeats; round += 1) {
        for (const side of [0, 1, 1, 0] as const) {
          const [name, args] = side === 0 ? first : second;
          runs[side].push(await measure(name, args, lines, schemaText, binary));
        }
      }
      return [combine(runs[0]), combine(runs[1])];
    };
    const [bareCreate, create] = await pair(
      ['bare ImportBulkRelationships loop', [thisFile, '--baseline', 'create', createFile]],
      ['npm run import -- --mode create', [script, createFile, '--mode', 'create']],
      createLines,
    );
    const [sequentialTouch, touch] = await pair(
      ['sequential WriteRelationships x1,000 TOUCH', [thisFile, '--baseline', 'touch', touchFile]],
      ['npm run import -- (touch)', [script, touchFile]],
      touchLines,
    );

    const createRatio = Math.round((create.linesPerSecond / bareCreate.linesPerSecond) * 100) / 100;
    const touchRatio =
      Math.round((touch.linesPerSecond / sequentialTouch.linesPerSecond) * 100) / 100;
    const peakRssMb = Math.max(create.peakRssMb, touch.peakRssMb);
    const table = [
      ['figure', 'measured', 'target', 'met'],
      ['create vs bare ImportBulkRelationships', `${createRatio}x`, '>= 0.9x', createRatio >= 0.9],
      ['touch vs sequential WriteRelationships', `${touchRatio}x`, '>= 2x', touchRatio >= 2],
      [
        `peak RSS, ${createLines.toLocaleString('en-US')} lines`,
        `${peakRssMb} MB`,
        '< 256 MB',
        peakRssMb < 256,
      ],
    ];
    console.log('');
    for (const row of table) {
      console.log(
        `  ${String(row[0]).padEnd(42)} ${String(row[1]).padStart(9)}  ${String(row[2]).padEnd(9)} ${row[3] === true ? 'yes' : row[3] === false ? 'NO' : row[3]}`,
      );
    }
    const resultsDir = path.join(repoRoot, 'bench/results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      path.join(resultsDir, 'import.json'),
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          cpus: (await import('node:os')).cpus().length,
          datastore: 'spicedb serve on PostgreSQL, a fresh database per measurement',
          createLines,
          touchLines,
          measurements: { bareCreate, create, sequentialTouch, touch },
          ratios: { createVsBare: createRatio, touchVsSequential: touchRatio },
          peakRssMb,
          targets: { createVsBare: 0.9, touchVsSequential: 2, peakRssMb: 256 },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const baselineIndex = process.argv.indexOf('--baseline');
if (baselineIndex >= 0) {
  const kind = process.argv[baselineIndex + 1] as 'create' | 'touch';
  const file = process.argv[baselineIndex + 2] as string;
  baseline(kind, file).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
