/**
 * `npm run export -- FILE [--checkpoint PATH]`: every relationship of the SpiceDB named by
 * SPICEDB_ENDPOINT / SPICEDB_TOKEN / SPICEDB_INSECURE into FILE, in the notation its extension
 * names (.txt/.zed, .ndjson/.jsonl, .csv, .yaml/.yml). Exit codes: 0 done, 2 bad command line or
 * environment, 3 the export failed (re-run the same command to resume it).
 */
import { parseArgs } from 'node:util';
import { loadEnv } from '../src/config/env.js';
import { connectRemote } from '../src/spicedb/connection.js';
import { formatExportSummary, runExport } from '../src/bulk/export.js';
import { formatOf } from '../src/bulk/formats.js';

const USAGE =
  'usage: npm run export -- FILE [--checkpoint PATH] [--page-size N] [--max-attempts N] [--timeout-ms N]';

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
        checkpoint: { type: 'string' },
        'page-size': { type: 'string' },
        'max-attempts': { type: 'string' },
        'timeout-ms': { type: 'string' },
      },
    });
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) usage('expected exactly one FILE');
  const file = positionals[0] as string;
  try {
    formatOf(file);
  } catch (error) {
    usage((error as Error).message);
  }
  let env;
  try {
    env = loadEnv();
  } catch (error) {
    usage((error as Error).message);
  }
  if (!env.SPICEDB_ENDPOINT || !env.SPICEDB_TOKEN) {
    usage('SPICEDB_ENDPOINT and SPICEDB_TOKEN name the SpiceDB server to export from');
  }
  const connection = connectRemote({
    endpoint: env.SPICEDB_ENDPOINT,
    token: env.SPICEDB_TOKEN,
    insecure: env.SPICEDB_INSECURE,
  });
  const pageSize = positiveInt('page-size', values['page-size']);
  const maxAttempts = positiveInt('max-attempts', values['max-attempts']);
  const timeoutMs = positiveInt('timeout-ms', values['timeout-ms']);
  try {
    const summary = await runExport({
      file,
      client: connection.client as NonNullable<typeof connection.client>,
      ...(values.checkpoint ? { checkpointPath: values.checkpoint } : {}),
      ...(pageSize ? { pageSize } : {}),
      retry: {
        ...(maxAttempts ? { maxAttempts } : {}),
        ...(timeoutMs ? { callTimeoutMs: timeoutMs } : {}),
      },
    });
    process.stdout.write(`${formatExportSummary(summary)}\n`);
    return summary.ok ? 0 : 3;
  } finally {
    connection.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `export failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(3);
  },
);
