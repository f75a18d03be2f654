/**
 * `npm run import -- FILE [--mode touch|create|delete] [--dry-run] [--checkpoint PATH]`
 * Loads relationships into the SpiceDB named by SPICEDB_ENDPOINT / SPICEDB_TOKEN /
 * SPICEDB_INSECURE. Exit codes: 0 done, 1 invalid file (nothing written), 2 bad command line or
 * environment, 3 a write failed (what is committed is checkpointed: re-run the same command).
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { loadEnv } from '../src/config/env.js';
import { connectRemote, readSchemaFile } from '../src/spicedb/connection.js';
import { formatImportSummary, runImport, type ImportMode } from '../src/bulk/import.js';
import { formatOf } from '../src/bulk/formats.js';

const USAGE =
  'usage: npm run import -- FILE [--mode touch|create|delete] [--dry-run] [--checkpoint PATH]\n' +
  '       [--schema schema.zed] [--concurrency N] [--streams N] [--chunk-size N]\n' +
  '       [--max-attempts N] [--timeout-ms N]';

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) usage(`--${name} must be a positive integer`);
  return parsed;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        mode: { type: 'string', default: 'touch' },
        'dry-run': { type: 'boolean', default: false },
        checkpoint: { type: 'string' },
        schema: { type: 'string' },
        concurrency: { type: 'string' },
        streams: { type: 'string' },
        'chunk-size': { type: 'string' },
        'max-attempts': { type: 'string' },
        'timeout-ms': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) usage('expected exactly one FILE');
  const file = positionals[0] as string;
  if (!existsSync(file)) usage(`${file} does not exist`);
  const mode = values.mode as ImportMode;
  if (!['touch', 'create', 'delete'].includes(mode))
    usage('--mode must be touch, create or delete');
  try {
    formatOf(file);
  } catch (error) {
    usage((error as Error).message);
  }
  const dryRun = values['dry-run'];

  let client;
  let close = () => {};
  if (!dryRun) {
    let env;
    try {
      env = loadEnv();
    } catch (error) {
      usage((error as Error).message);
    }
    if (!env.SPICEDB_ENDPOINT || !env.SPICEDB_TOKEN) {
      usage('SPICEDB_ENDPOINT and SPICEDB_TOKEN name the SpiceDB server to import into');
    }
    const connection = connectRemote({
      endpoint: env.SPICEDB_ENDPOINT,
      token: env.SPICEDB_TOKEN,
      insecure: env.SPICEDB_INSECURE,
    });
    client = connection.client;
    close = () => connection.close();
  }

  const maxAttempts = positiveInt('max-attempts', values['max-attempts']);
  const timeoutMs = positiveInt('timeout-ms', values['timeout-ms']);
  const concurrency = positiveInt('concurrency', values.concurrency);
  const streams = positiveInt('streams', values.streams);
  const chunkSize = positiveInt('chunk-size', values['chunk-size']);
  try {
    const summary = await runImport({
      file,
      mode,
      dryRun,
      schemaText: await readSchemaFile(values.schema),
      ...(client ? { client } : {}),
      ...(values.checkpoint ? { checkpointPath: values.checkpoint } : {}),
      ...(concurrency ? { concurrency } : {}),
      ...(streams ? { streams } : {}),
      ...(chunkSize ? { chunkSize } : {}),
      retry: {
        ...(maxAttempts ? { maxAttempts } : {}),
        ...(timeoutMs ? { callTimeoutMs: timeoutMs } : {}),
      },
    });
    process.stdout.write(`${formatImportSummary(summary)}\n`);
    if (summary.ok) return 0;
    return summary.invalid > 0 ? 1 : 3;
  } finally {
    close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `import failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(3);
  },
);
