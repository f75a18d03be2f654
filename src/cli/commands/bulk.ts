import { existsSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { EXIT, UsageError } from '../io.js';
import { connectSpiceDbFromEnv } from '../spicedb.js';
import type { Runner } from './runner.js';

const positiveInt = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError('must be a positive integer');
  }
  return parsed;
};

interface ImportFlags {
  mode: 'touch' | 'create' | 'delete';
  dryRun?: boolean;
  checkpoint?: string;
  schema?: string;
  concurrency?: number;
  streams?: number;
  chunkSize?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  json?: boolean;
}

interface ExportFlags {
  checkpoint?: string;
  pageSize?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  json?: boolean;
}

const FORMATS = `
FILE is one of: zed notation a line (.txt, .zed: project:p1#admin@user:alice, SpiceDB's
grammar: group:g#member@group:h#member, doc:d#viewer@user:a[caveat:{"k":1}][expiration:
2030-01-01T00:00:00Z]), NDJSON (.ndjson, .jsonl), CSV with the header resource,relation,subject
(.csv), or a playground YAML file's relationships (.yaml, .yml). See docs/bulk-import.md.`;

async function checkFormat(file: string) {
  const { formatOf } = await import('../../bulk/formats.js');
  try {
    formatOf(file);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

const retryOf = (flags: { maxAttempts?: number; timeoutMs?: number }) => ({
  ...(flags.maxAttempts ? { maxAttempts: flags.maxAttempts } : {}),
  ...(flags.timeoutMs ? { callTimeoutMs: flags.timeoutMs } : {}),
});

export function registerBulkCommands(program: Command, run: Runner): void {
  program
    .command('import')
    .summary('load relationships from FILE into SpiceDB (exit 1: invalid lines, nothing written)')
    .argument('<file>', 'relationships: .txt/.zed, .ndjson/.jsonl, .csv, .yaml/.yml')
    .addOption(
      new Option(
        '--mode <mode>',
        'touch is idempotent; create is the fast first load; delete removes',
      )
        .choices(['touch', 'create', 'delete'])
        .default('touch'),
    )
    .option('--dry-run', 'validate FILE against the schema and count; needs no SpiceDB')
    .option('--checkpoint <path>', 'record progress here; re-run the same command to resume')
    .option(
      '--schema <file>',
      "write FILE to SpiceDB first (refused if it would orphan stored relationships); lines are checked against SpiceDB's schema",
    )
    .option('--concurrency <n>', 'WriteRelationships calls in flight', positiveInt)
    .option('--streams <n>', 'ImportBulkRelationships streams in flight (create)', positiveInt)
    .option('--chunk-size <n>', 'relationships per bulk stream (one transaction)', positiveInt)
    .option('--max-attempts <n>', 'attempts per call before giving up', positiveInt)
    .option('--timeout-ms <n>', 'deadline of each call', positiveInt)
    .option('--json', 'the summary as one JSON document on stdout')
    .addHelpText(
      'after',
      `${FORMATS}

SpiceDB (not for --dry-run): SPICEDB_ENDPOINT, SPICEDB_TOKEN, SPICEDB_INSECURE=true.
Exit codes: 0 done, 1 invalid file (nothing written), 2 usage, 3 a write failed (re-run).

Examples:
  authz import relationships.csv --dry-run
  authz import playground.yaml --schema schema.zed
  authz import relationships.ndjson --mode create --checkpoint import.ckpt --streams 4`,
    )
    .action(
      run(async (io, file: string, flags: ImportFlags) => {
        if (!existsSync(file)) throw new UsageError(`${file} does not exist`);
        await checkFormat(file);
        const [{ runImport, formatImportSummary }, { readSchemaFile }, { SpiceDbGateway }] =
          await Promise.all([
            import('../../bulk/import.js'),
            import('../../spicedb/connection.js'),
            import('../../spicedb/gateway.js'),
          ]);
        const schemaText =
          flags.schema === undefined
            ? undefined
            : await readSchemaFile(flags.schema).catch(() => {
                throw new UsageError(`cannot read the schema ${flags.schema}`);
              });
        const spicedb = flags.dryRun ? undefined : await connectSpiceDbFromEnv(io.env);
        // the schema-admin path writes `--schema FILE` (SpiceDB refuses orphaning changes)
        const gateway = spicedb
          ? new SpiceDbGateway(spicedb.connection, {
              timeoutMs: spicedb.settings.timeoutMs,
              checkBatching: false,
            })
          : undefined;
        try {
          const summary = await runImport({
            file,
            mode: flags.mode,
            dryRun: flags.dryRun === true,
            ...(schemaText !== undefined ? { schemaText } : {}),
            ...(gateway ? { gateway } : {}),
            ...(spicedb?.connection.client ? { client: spicedb.connection.client } : {}),
            ...(flags.checkpoint ? { checkpointPath: flags.checkpoint } : {}),
            ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
            ...(flags.streams ? { streams: flags.streams } : {}),
            ...(flags.chunkSize ? { chunkSize: flags.chunkSize } : {}),
            retry: retryOf(flags),
            log: (line) => io.stderr(line),
          });
          io.stdout(flags.json ? JSON.stringify(summary) : formatImportSummary(summary));
          if (summary.ok) return EXIT.ok;
          return summary.invalid > 0 ? EXIT.no : EXIT.failed;
        } finally {
          if (gateway) gateway.close();
          else spicedb?.connection.close();
        }
      }),
    );

  program
    .command('export')
    .summary('write every relationship of SpiceDB to FILE, in the notation its extension names')
    .argument('<file>', 'relationships: .txt/.zed, .ndjson/.jsonl, .csv, .yaml/.yml')
    .option('--checkpoint <path>', 'record progress here; re-run the same command to resume')
    .option('--page-size <n>', 'relationships per page read from SpiceDB', positiveInt)
    .option('--max-attempts <n>', 'attempts per call before giving up', positiveInt)
    .option('--timeout-ms <n>', 'deadline of each call', positiveInt)
    .option('--json', 'the summary as one JSON document on stdout')
    .addHelpText(
      'after',
      `${FORMATS}

SpiceDB: SPICEDB_ENDPOINT, SPICEDB_TOKEN, SPICEDB_INSECURE=true.
Exit codes: 0 done, 2 usage, 3 the export failed (re-run the same command to resume).

Example:
  authz export backup.ndjson --checkpoint export.ckpt`,
    )
    .action(
      run(async (io, file: string, flags: ExportFlags) => {
        await checkFormat(file);
        const { connection } = await connectSpiceDbFromEnv(io.env);
        const { runExport, formatExportSummary } = await import('../../bulk/export.js');
        try {
          const summary = await runExport({
            file,
            client: connection.client!,
            ...(flags.checkpoint ? { checkpointPath: flags.checkpoint } : {}),
            ...(flags.pageSize ? { pageSize: flags.pageSize } : {}),
            retry: retryOf(flags),
            log: (line) => io.stderr(line),
          });
          io.stdout(flags.json ? JSON.stringify(summary) : formatExportSummary(summary));
          return summary.ok ? EXIT.ok : EXIT.failed;
        } finally {
          connection.close();
        }
      }),
    );
}
