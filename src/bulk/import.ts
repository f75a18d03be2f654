/**
 * Bulk import: what the lines are checked against (import-target.ts), a first streaming pass
 * that validates every line, by SpiceDB's grammar and, with a server, by SpiceDB itself (nothing
 * is written when any line is invalid: import-validate.ts), then a second streaming pass that
 * writes, several batches in flight, recording in a checkpoint the line up to which everything
 * is acknowledged (import-write.ts).
 */
import {
  defaultCheckpointPath,
  fileIdentity,
  readCheckpoint,
  removeCheckpoint,
  writeCheckpoint,
  type ImportCheckpoint,
} from './checkpoint.js';
import { formatOf, type BulkFormat } from './formats.js';
import { validateFile, type LineProblem } from './import-validate.js';
import { targetFacts } from './import-target.js';
import { writePass, type ImportMode, type WriteCounts } from './import-write.js';
import { Progress } from './progress.js';
import { describeError } from '../spicedb/errors.js';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import { bulkCallPolicy, type BulkClient, type RetryPolicy } from './spicedb-bulk.js';

export type { ImportMode, LineProblem };
export { MAX_WRITE_BATCH } from './import-write.js';

const CHECKPOINT_INTERVAL_MS = 250;

export interface ImportOptions {
  file: string;
  mode: ImportMode;
  dryRun?: boolean;
  /** required unless dryRun */
  client?: BulkClient;
  /** `--schema FILE`: written to SpiceDB (through `gateway`) before the file is read */
  schemaText?: string;
  gateway?: SpiceDbGateway;
  format?: BulkFormat;
  checkpointPath?: string;
  /** WriteRelationships calls in flight (touch, delete, create fallbacks) */
  concurrency?: number;
  /** ImportBulkRelationships streams in flight */
  streams?: number;
  /** relationships in one ImportBulkRelationships stream (one transaction) */
  chunkSize?: number;
  /** relationships in one message of that stream */
  messageSize?: number;
  retry?: Partial<RetryPolicy>;
  /** where problems and notices go (default: stderr) */
  log?: (line: string) => void;
  /** problems printed in full; the rest are counted */
  maxReported?: number;
  progress?: boolean;
}

export interface ImportSummary extends WriteCounts {
  mode: ImportMode;
  dryRun: boolean;
  /** relationship lines in the file */
  read: number;
  invalid: number;
  resumedFromLine: number;
  seconds: number;
  peakRssMb: number;
  problems: LineProblem[];
  error?: string;
  ok: boolean;
}

const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

/** The line a checkpoint of this file version and mode records as committed (0: none). */
function resumeLine(options: ImportOptions, checkpointPath: string, log: (l: string) => void) {
  const previous = readCheckpoint<ImportCheckpoint>(checkpointPath, 'import');
  if (!previous) return 0;
  const identity = fileIdentity(options.file);
  if (
    previous.mode === options.mode &&
    previous.file.size === identity.size &&
    previous.file.mtimeMs === identity.mtimeMs
  ) {
    log(`resuming from ${checkpointPath}: lines up to ${previous.committedLine} are committed`);
    return previous.committedLine;
  }
  log(`ignoring ${checkpointPath}: it belongs to another file version or mode (${previous.mode})`);
  return 0;
}

export async function runImport(options: ImportOptions): Promise<ImportSummary> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const format = options.format ?? formatOf(options.file);
  const policy = bulkCallPolicy(options.retry);
  const maxReported = options.maxReported ?? 100;
  const dryRun = options.dryRun ?? false;
  const summary: ImportSummary = {
    mode: options.mode,
    dryRun,
    read: 0,
    invalid: 0,
    written: 0,
    wouldWrite: 0,
    derived: 0,
    skipped: 0,
    failed: 0,
    fallbacks: 0,
    readBacks: 0,
    resumedFromLine: 0,
    seconds: 0,
    peakRssMb: 0,
    problems: [],
    ok: false,
  };
  const finish = (): ImportSummary => {
    summary.seconds = (performance.now() - started) / 1000;
    summary.peakRssMb = peakRssMb();
    return summary;
  };

  const target = await targetFacts({
    dryRun,
    client: options.client,
    policy,
    log,
    ...(options.schemaText !== undefined ? { schemaText: options.schemaText } : {}),
    ...(options.gateway ? { gateway: options.gateway } : {}),
  }).catch((error: unknown) => ({
    error: `cannot read the schema of SpiceDB (${describeError(error)}); nothing was written`,
  }));
  if ('error' in target) {
    summary.error = target.error;
    return finish();
  }
  const { facts } = target;

  const validation = await validateFile({
    file: options.file,
    format,
    facts,
    ...(options.client && !dryRun
      ? {
          spicedb: {
            client: options.client,
            operation: options.mode === 'delete' ? 'delete' : 'touch',
            policy,
          },
        }
      : {}),
    onProblem: (problem) => {
      if (summary.problems.length < maxReported) {
        summary.problems.push(problem);
        log(`${options.file}:${problem.line}: ${problem.message}`);
      }
    },
  });
  summary.read = validation.valid + validation.invalid;
  summary.invalid = validation.invalid;
  if (validation.invalid > 0) {
    if (validation.invalid > maxReported) {
      log(`... and ${validation.invalid - maxReported} more invalid lines`);
    }
    summary.failed = validation.invalid;
    summary.error = `${validation.invalid} invalid line(s): nothing was written`;
    return finish();
  }

  const checkpointPath = options.checkpointPath ?? defaultCheckpointPath(options.file, 'import');
  const identity = fileIdentity(options.file);
  let committedLine = dryRun ? 0 : resumeLine(options, checkpointPath, log);
  summary.resumedFromLine = committedLine;
  let lastSave = 0;
  let savedLine = committedLine;
  const saveCheckpoint = (line: number) => {
    lastSave = performance.now();
    savedLine = line;
    writeCheckpoint(checkpointPath, {
      kind: 'import',
      version: 1,
      file: identity,
      mode: options.mode,
      committedLine: line,
      updatedAt: new Date().toISOString(),
    });
  };
  const progress =
    options.progress === false
      ? undefined
      : new Progress({
          label: `import ${options.mode}${dryRun ? ' dry-run' : ''}`,
          total: validation.valid,
          unit: 'lines',
        });

  const failure = await writePass({
    file: options.file,
    format,
    mode: options.mode,
    dryRun,
    facts,
    explicitInverses: validation.explicitInverses,
    client: options.client,
    policy,
    committedLine,
    concurrency: options.concurrency ?? 4,
    streams: options.streams ?? 2,
    chunkSize: options.chunkSize ?? 10_000,
    messageSize: options.messageSize ?? 1_000,
    counts: summary,
    log,
    onCommitted: (line) => {
      committedLine = line;
      // At most one checkpoint write every 250 ms: a record a moment old only makes a
      // re-run redo a few acknowledged batches, which every mode tolerates.
      if (!dryRun && performance.now() - lastSave >= CHECKPOINT_INTERVAL_MS) saveCheckpoint(line);
    },
    onProgress: (lines) => progress?.update(lines),
  });
  progress?.stop();

  if (failure !== undefined) {
    if (!dryRun && committedLine > savedLine) saveCheckpoint(committedLine);
    summary.error = `stopped after a failed write (${describeError(failure)}); lines up to ${committedLine} are committed, re-run the same command to finish`;
    return finish();
  }
  if (!dryRun) removeCheckpoint(checkpointPath);
  summary.ok = true;
  return finish();
}

export function formatImportSummary(s: ImportSummary): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const rate = s.seconds > 0 ? Math.round(s.read / s.seconds) : 0;
  const parts = [
    `import ${s.mode}${s.dryRun ? ' dry-run' : ''}:`,
    `read ${n(s.read)},`,
    s.dryRun
      ? `valid ${n(s.read - s.invalid)}, would write ${n(s.wouldWrite)}, written 0`
      : `written ${n(s.written)}`,
    `(${n(s.derived)} derived),`,
    `skipped ${n(s.skipped)},`,
    `failed ${n(s.failed)},`,
    `${s.seconds.toFixed(1)}s,`,
    `${n(rate)} lines/s,`,
    `peak RSS ${s.peakRssMb} MB`,
  ];
  let line = parts.join(' ');
  if (s.fallbacks > 0) line += `, ${s.fallbacks} chunk(s) fell back to TOUCH`;
  if (s.readBacks > 0) line += `, ${s.readBacks} read back`;
  return `${line}${s.error ? ` - ${s.error}` : ''}`;
}
