/**
 * Bulk import: a first streaming pass validates every line against schema.zed (nothing is
 * written when any line is invalid), a second streaming pass writes, several batches in
 * flight, and records in a checkpoint the line up to which everything is acknowledged.
 */
import {
  defaultCheckpointPath,
  fileIdentity,
  readCheckpoint,
  removeCheckpoint,
  writeCheckpoint,
  type ImportCheckpoint,
} from './checkpoint.js';
import { formatOf, readRecords, type BulkFormat } from './formats.js';
import { Progress } from './progress.js';
import {
  checkAgainstSchema,
  derivedInverse,
  LineError,
  relationshipKey,
  type RelationshipTuple,
} from './relationship.js';
import { parseSchemaRules, type SchemaRules } from './schema-rules.js';
import { describeError } from '../spicedb/errors.js';
import { chunk } from '../util/chunk.js';
import {
  bulkCallPolicy,
  importChunk,
  isAlreadyExists,
  readBack,
  writeBatch,
  type BulkClient,
  type RetryPolicy,
} from './spicedb-bulk.js';

export type ImportMode = 'touch' | 'create' | 'delete';

/** SpiceDB's default limit of updates in one WriteRelationships call. */
export const MAX_WRITE_BATCH = 1_000;

const CHECKPOINT_INTERVAL_MS = 250;

export interface ImportOptions {
  file: string;
  mode: ImportMode;
  dryRun?: boolean;
  schemaText: string;
  /** required unless dryRun */
  client?: BulkClient;
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

export interface LineProblem {
  line: number;
  message: string;
}

export interface ImportSummary {
  mode: ImportMode;
  dryRun: boolean;
  /** relationship lines in the file */
  read: number;
  invalid: number;
  /** relationships SpiceDB acknowledged in this run (derived inverses included) */
  written: number;
  /** dry run: relationships a real run would write */
  wouldWrite: number;
  derived: number;
  /** lines a checkpoint showed committed, and repeats of a relationship within a batch */
  skipped: number;
  /** invalid lines, or relationships of batches that could not be written */
  failed: number;
  /** create mode: streams that met existing relationships and were written with TOUCH */
  fallbacks: number;
  /** create mode: streams with an unknown outcome, settled by reading them back */
  readBacks: number;
  resumedFromLine: number;
  seconds: number;
  peakRssMb: number;
  problems: LineProblem[];
  error?: string;
  ok: boolean;
}

interface Batch {
  seq: number;
  lastLine: number;
  lines: number;
  relationships: RelationshipTuple[];
}

const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

function explicitInverseKey(t: RelationshipTuple): string | undefined {
  return t.resourceType === 'organization' &&
    t.relation === 'project' &&
    t.subjectType === 'project' &&
    t.subjectRelation === undefined
    ? `${t.resourceId}\n${t.subjectId}`
    : undefined;
}

/** Pass 1: every line parsed and checked; remembers the inverses the file states itself. */
async function validate(
  file: string,
  format: BulkFormat,
  rules: SchemaRules,
  onProblem: (problem: LineProblem) => void,
) {
  let valid = 0;
  let invalid = 0;
  let lastLine = 0;
  const explicitInverses = new Set<string>();
  for await (const records of readRecords(file, format)) {
    for (const record of records) {
      lastLine = record.line;
      if ('error' in record) {
        invalid += 1;
        onProblem({ line: record.line, message: record.error });
        continue;
      }
      try {
        checkAgainstSchema(rules, record.relationship);
      } catch (error) {
        if (!(error instanceof LineError)) throw error;
        invalid += 1;
        onProblem({ line: record.line, message: error.message });
        continue;
      }
      valid += 1;
      const key = explicitInverseKey(record.relationship);
      if (key !== undefined) explicitInverses.add(key);
    }
  }
  return { valid, invalid, lastLine, explicitInverses };
}

export async function runImport(options: ImportOptions): Promise<ImportSummary> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const format = options.format ?? formatOf(options.file);
  const rules = parseSchemaRules(options.schemaText);
  const retry = bulkCallPolicy(options.retry);
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

  const validation = await validate(options.file, format, rules, (problem) => {
    if (summary.problems.length < maxReported) {
      summary.problems.push(problem);
      log(`${options.file}:${problem.line}: ${problem.message}`);
    }
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
  let committedLine = 0;
  if (!dryRun) {
    const previous = readCheckpoint<ImportCheckpoint>(checkpointPath, 'import');
    if (previous) {
      const same =
        previous.mode === options.mode &&
        previous.file.size === identity.size &&
        previous.file.mtimeMs === identity.mtimeMs;
      if (same) {
        committedLine = previous.committedLine;
        log(`resuming from ${checkpointPath}: lines up to ${committedLine} are committed`);
      } else {
        log(
          `ignoring ${checkpointPath}: it belongs to another file version or mode (${previous.mode})`,
        );
      }
    }
  }
  summary.resumedFromLine = committedLine;
  let lastSave = 0;
  let savedLine = committedLine;
  const saveCheckpoint = (line: number) => {
    lastSave = performance.now();
    savedLine = line;
    const record: ImportCheckpoint = {
      kind: 'import',
      version: 1,
      file: identity,
      mode: options.mode,
      committedLine: line,
      updatedAt: new Date().toISOString(),
    };
    writeCheckpoint(checkpointPath, record);
  };

  if (!dryRun && !options.client) throw new Error('an import needs a SpiceDB client');
  const client = options.client as BulkClient;
  const progress =
    options.progress === false
      ? undefined
      : new Progress({
          label: `import ${options.mode}${dryRun ? ' dry-run' : ''}`,
          total: validation.valid,
          unit: 'lines',
        });

  // Pass 2: batches in order, several in flight; the checkpoint advances over the prefix of
  // batches that are all acknowledged, so a batch finishing early never skips a slower one.
  const createMode = options.mode === 'create';
  const batchLimit = createMode ? (options.chunkSize ?? 10_000) : MAX_WRITE_BATCH;
  const inFlightLimit = createMode ? (options.streams ?? 2) : (options.concurrency ?? 4);
  const writeConcurrency = options.concurrency ?? 4;
  const messageSize = options.messageSize ?? 1_000;
  const exactByCheck = (t: RelationshipTuple) =>
    rules
      .get(t.resourceType)
      ?.relations.get(t.relation)
      ?.every((allowed) => allowed.relation === undefined && !allowed.wildcard) ?? false;

  const touchAll = async (relationships: readonly RelationshipTuple[]) => {
    const slices = chunk(relationships, MAX_WRITE_BATCH);
    let next = 0;
    const worker = async () => {
      while (next < slices.length) {
        const slice = slices[next++] as RelationshipTuple[];
        await writeBatch(client, 'touch', slice, retry);
      }
    };
    await Promise.all(Array.from({ length: Math.min(writeConcurrency, slices.length) }, worker));
  };

  const writeCreateChunk = async (relationships: RelationshipTuple[]) => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await importChunk(client, relationships, messageSize, retry);
        return;
      } catch (error) {
        if (isAlreadyExists(error)) {
          // The chunk meets relationships already stored: TOUCH writes the new ones and
          // leaves the others as they are.
          summary.fallbacks += 1;
          await touchAll(relationships);
          return;
        }
        // The stream died without a clear answer: it may have committed. Reading it back is what
        // makes asking again safe, so it retries like a write that may be repeated.
        if (retry.retryDelay(error, 'idempotent-write', attempt) === undefined) throw error;
        summary.readBacks += 1;
        const present = await readBack(client, relationships, exactByCheck, retry);
        const missing = relationships.filter((_, index) => !present[index]);
        if (missing.length === 0) return;
        if (missing.length < relationships.length) {
          await touchAll(missing);
          return;
        }
      }
    }
  };

  const runBatch = async (batch: Batch) => {
    if (batch.relationships.length === 0 || dryRun) return;
    if (createMode) {
      await writeCreateChunk(batch.relationships);
    } else {
      const operation = options.mode === 'delete' ? 'delete' : 'touch';
      await writeBatch(client, operation, batch.relationships, retry, (error, attempt) =>
        log(
          `batch ending at line ${batch.lastLine}: attempt ${attempt} failed (${describeError(error)}), retrying`,
        ),
      );
    }
  };

  const done = new Set<number>();
  let nextToCommit = 0;
  const lastLineOf = new Map<number, number>();
  let linesDone = 0;
  let failure: unknown;
  const inFlight = new Set<Promise<void>>();

  const dispatch = (batch: Batch) => {
    lastLineOf.set(batch.seq, batch.lastLine);
    const task = runBatch(batch).then(
      () => {
        if (dryRun) summary.wouldWrite += batch.relationships.length;
        else summary.written += batch.relationships.length;
        linesDone += batch.lines;
        done.add(batch.seq);
        let advanced = false;
        while (done.has(nextToCommit)) {
          done.delete(nextToCommit);
          committedLine = lastLineOf.get(nextToCommit) ?? committedLine;
          lastLineOf.delete(nextToCommit);
          nextToCommit += 1;
          advanced = true;
        }
        // At most one checkpoint write every 250 ms: a record a moment old only makes a
        // re-run redo a few acknowledged batches, which every mode tolerates.
        if (advanced && !dryRun && performance.now() - lastSave >= CHECKPOINT_INTERVAL_MS) {
          saveCheckpoint(committedLine);
        }
        progress?.update(summary.skipped + linesDone);
      },
      (error: unknown) => {
        failure ??= error;
        summary.failed += batch.relationships.length;
      },
    );
    const tracked = task.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  let seq = 0;
  let current: Batch = { seq, lastLine: committedLine, lines: 0, relationships: [] };
  let seen = new Set<string>();
  const flush = async () => {
    if (current.lines === 0) return;
    dispatch(current);
    seq += 1;
    current = { seq, lastLine: current.lastLine, lines: 0, relationships: [] };
    seen = new Set<string>();
    while (inFlight.size >= inFlightLimit) await Promise.race(inFlight);
  };
  const add = (t: RelationshipTuple) => {
    const key = relationshipKey(t);
    if (seen.has(key)) return false;
    seen.add(key);
    current.relationships.push(t);
    return true;
  };

  reading: for await (const records of readRecords(options.file, format)) {
    for (const record of records) {
      if (!('relationship' in record)) continue;
      if (record.line <= committedLine) {
        summary.skipped += 1;
        continue;
      }
      if (failure !== undefined) break reading;
      if (!add(record.relationship)) summary.skipped += 1;
      const inverse = derivedInverse(rules, record.relationship);
      if (
        inverse &&
        !validation.explicitInverses.has(`${inverse.resourceId}\n${inverse.subjectId}`) &&
        add(inverse)
      ) {
        summary.derived += 1;
      }
      current.lines += 1;
      current.lastLine = record.line;
      // a line and its inverse always share a batch, so keep room for two
      if (current.relationships.length >= batchLimit - 1) await flush();
    }
  }
  if (failure === undefined) await flush();
  await Promise.allSettled([...inFlight]);
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
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
