/**
 * Pass 2 of an import: batches in file order, several in flight; the checkpoint advances over
 * the prefix of batches that are all acknowledged, so a batch finishing early never skips a
 * slower one. A line and its derived inverse always share a batch.
 */
import { describeError } from '../spicedb/errors.js';
import type { CallPolicy } from '../spicedb/call-policy.js';
import { chunk } from '../util/chunk.js';
import { readRecords, type BulkFormat } from './formats.js';
import { relationshipKey, type RelationshipTuple } from './relationship.js';
import { derivedInverse, exactByCheck, type SchemaFacts } from './schema-facts.js';
import {
  importChunk,
  isAlreadyExists,
  readBack,
  writeBatch,
  type BulkClient,
} from './spicedb-bulk.js';

export type ImportMode = 'touch' | 'create' | 'delete';

/** SpiceDB's default limit of updates in one WriteRelationships call. */
export const MAX_WRITE_BATCH = 1_000;

export interface WriteCounts {
  written: number;
  wouldWrite: number;
  derived: number;
  skipped: number;
  failed: number;
  fallbacks: number;
  readBacks: number;
}

export interface WritePassOptions {
  file: string;
  format: BulkFormat;
  mode: ImportMode;
  dryRun: boolean;
  facts: SchemaFacts;
  explicitInverses: Set<string>;
  client: BulkClient | undefined;
  policy: CallPolicy;
  /** lines up to this one are committed already (a checkpoint) */
  committedLine: number;
  concurrency: number;
  streams: number;
  chunkSize: number;
  messageSize: number;
  counts: WriteCounts;
  log: (line: string) => void;
  /** the line up to which every batch is acknowledged, each time it advances */
  onCommitted: (line: number) => void;
  onProgress: (lines: number) => void;
}

interface Batch {
  seq: number;
  lastLine: number;
  lines: number;
  relationships: RelationshipTuple[];
}

/** Runs pass 2; resolves with the first failure (undefined when every batch was acknowledged). */
export async function writePass(o: WritePassOptions): Promise<unknown> {
  const { counts, policy } = o;
  const client = o.client as BulkClient;
  const createMode = o.mode === 'create';
  const batchLimit = createMode ? o.chunkSize : MAX_WRITE_BATCH;
  const inFlightLimit = createMode ? o.streams : o.concurrency;

  const touchAll = async (relationships: readonly RelationshipTuple[]) => {
    const slices = chunk(relationships, MAX_WRITE_BATCH);
    let next = 0;
    const worker = async () => {
      while (next < slices.length) {
        const slice = slices[next++] as RelationshipTuple[];
        await writeBatch(client, 'touch', slice, policy);
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.concurrency, slices.length) }, worker));
  };

  const writeCreateChunk = async (relationships: RelationshipTuple[]) => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await importChunk(client, relationships, o.messageSize, policy);
        return;
      } catch (error) {
        if (isAlreadyExists(error)) {
          // The chunk meets relationships already stored: TOUCH writes the new ones and
          // leaves the others as they are.
          counts.fallbacks += 1;
          await touchAll(relationships);
          return;
        }
        // The stream died without a clear answer: it may have committed. Reading it back is what
        // makes asking again safe, so it retries like a write that may be repeated.
        if (policy.retryDelay(error, 'idempotent-write', attempt) === undefined) throw error;
        counts.readBacks += 1;
        const exact = (t: RelationshipTuple) => exactByCheck(o.facts, t);
        const present = await readBack(client, relationships, exact, policy);
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
    if (batch.relationships.length === 0 || o.dryRun) return;
    if (createMode) {
      await writeCreateChunk(batch.relationships);
    } else {
      const operation = o.mode === 'delete' ? 'delete' : 'touch';
      await writeBatch(client, operation, batch.relationships, policy, (error, attempt) =>
        o.log(
          `batch ending at line ${batch.lastLine}: attempt ${attempt} failed (${describeError(error)}), retrying`,
        ),
      );
    }
  };

  const done = new Set<number>();
  let nextToCommit = 0;
  let committedLine = o.committedLine;
  const lastLineOf = new Map<number, number>();
  let linesDone = 0;
  let failure: unknown;
  const inFlight = new Set<Promise<void>>();

  const dispatch = (batch: Batch) => {
    lastLineOf.set(batch.seq, batch.lastLine);
    const task = runBatch(batch).then(
      () => {
        if (o.dryRun) counts.wouldWrite += batch.relationships.length;
        else counts.written += batch.relationships.length;
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
        if (advanced) o.onCommitted(committedLine);
        o.onProgress(counts.skipped + linesDone);
      },
      (error: unknown) => {
        failure ??= error;
        counts.failed += batch.relationships.length;
      },
    );
    const tracked = task.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  let seq = 0;
  let current: Batch = { seq, lastLine: o.committedLine, lines: 0, relationships: [] };
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

  reading: for await (const records of readRecords(o.file, o.format)) {
    for (const record of records) {
      if (!('relationship' in record)) continue;
      if (record.line <= o.committedLine) {
        counts.skipped += 1;
        continue;
      }
      if (failure !== undefined) break reading;
      if (!add(record.relationship)) counts.skipped += 1;
      const inverse = derivedInverse(o.facts, record.relationship);
      if (
        inverse &&
        !o.explicitInverses.has(`${inverse.resourceId}\n${inverse.subjectId}`) &&
        add(inverse)
      ) {
        counts.derived += 1;
      }
      current.lines += 1;
      current.lastLine = record.line;
      // a line and its inverse always share a batch, so keep room for two
      if (current.relationships.length >= batchLimit - 1) await flush();
    }
  }
  if (failure === undefined) await flush();
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  return failure;
}
