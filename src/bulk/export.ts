/**
 * Bulk export through ExportBulkRelationships into FILE.partial, renamed to FILE when complete.
 * After each page is on disk the checkpoint records the file's complete length and the
 * server's cursor after that page; a re-run cuts the partial file back to that length and goes
 * on from the cursor (which pins the snapshot the export started from).
 */
import { closeSync, existsSync, ftruncateSync, openSync, renameSync, writeSync } from 'node:fs';
import {
  defaultCheckpointPath,
  readCheckpoint,
  removeCheckpoint,
  writeCheckpoint,
  type ExportCheckpoint,
} from './checkpoint.js';
import { formatOf, preamble, serialize, type BulkFormat } from './formats.js';
import { Progress } from './progress.js';
import { describeError } from '../spicedb/errors.js';
import {
  bulkCallPolicy,
  exportStream,
  fromProto,
  readSchemaText,
  type BulkClient,
  type RetryPolicy,
} from './spicedb-bulk.js';

export interface ExportOptions {
  file: string;
  client: BulkClient;
  format?: BulkFormat;
  checkpointPath?: string;
  /** relationships per page the server is asked for */
  pageSize?: number;
  retry?: Partial<RetryPolicy>;
  log?: (line: string) => void;
  progress?: boolean;
  /** called after each page is committed (tests use it to stop an export midway) */
  onPage?: (relationships: number) => void;
}

export interface ExportSummary {
  written: number;
  resumedAt: number;
  seconds: number;
  peakRssMb: number;
  ok: boolean;
  error?: string;
}

export async function runExport(options: ExportOptions): Promise<ExportSummary> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const format = options.format ?? formatOf(options.file);
  const retry = bulkCallPolicy(options.retry);
  const checkpointPath = options.checkpointPath ?? defaultCheckpointPath(options.file, 'export');
  const partialPath = `${options.file}.partial`;
  const summary: ExportSummary = { written: 0, resumedAt: 0, seconds: 0, peakRssMb: 0, ok: false };

  let cursor: string | undefined;
  let committedBytes: number;
  let fd: number;
  const previous = readCheckpoint<ExportCheckpoint>(checkpointPath, 'export');
  if (previous && previous.partialPath === partialPath && existsSync(partialPath)) {
    fd = openSync(partialPath, 'r+');
    ftruncateSync(fd, previous.committedBytes);
    committedBytes = previous.committedBytes;
    cursor = previous.cursor;
    summary.written = previous.relationships;
    summary.resumedAt = previous.relationships;
    log(`resuming the export after ${previous.relationships} relationships (${checkpointPath})`);
  } else {
    fd = openSync(partialPath, 'w');
    const head = preamble(
      format,
      format === 'yaml' ? await readSchemaText(options.client, retry) : '',
    );
    committedBytes = writeSync(fd, head, 0);
  }
  const progress =
    options.progress === false
      ? undefined
      : new Progress({ label: 'export', unit: 'relationships' });

  try {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const stream = exportStream(options.client, cursor, options.pageSize ?? 1_000, retry);
        for await (const page of stream as AsyncIterable<{
          relationships: Parameters<typeof fromProto>[0][];
          afterResultCursor?: { token: string };
        }>) {
          let text = '';
          for (const relationship of page.relationships) {
            text += serialize(format, fromProto(relationship));
          }
          committedBytes += writeSync(fd, text, committedBytes);
          summary.written += page.relationships.length;
          cursor = page.afterResultCursor?.token ?? cursor;
          if (cursor) {
            const record: ExportCheckpoint = {
              kind: 'export',
              version: 1,
              partialPath,
              committedBytes,
              relationships: summary.written,
              cursor,
              updatedAt: new Date().toISOString(),
            };
            writeCheckpoint(checkpointPath, record);
          }
          attempt = 1;
          progress?.update(summary.written);
          options.onPage?.(summary.written);
        }
        break;
      } catch (error) {
        const delay = retry.retryDelay(error, 'read', attempt);
        if (delay === undefined) throw error;
        log(`export interrupted (${describeError(error)}), resuming from the last page`);
        // nothing past the last complete page was written, so the cursor is exact
        ftruncateSync(fd, committedBytes);
        await retry.pause(delay);
      }
    }
    closeSync(fd);
    renameSync(partialPath, options.file);
    removeCheckpoint(checkpointPath);
    summary.ok = true;
  } catch (error) {
    closeSync(fd);
    summary.error = `${describeError(error)}; ${summary.written} relationships are saved, re-run the same command to go on`;
  } finally {
    progress?.stop();
  }
  summary.seconds = (performance.now() - started) / 1000;
  summary.peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  return summary;
}

export function formatExportSummary(s: ExportSummary): string {
  const rate = s.seconds > 0 ? Math.round((s.written - s.resumedAt) / s.seconds) : 0;
  return (
    `export: written ${s.written.toLocaleString('en-US')}` +
    (s.resumedAt > 0 ? ` (resumed after ${s.resumedAt.toLocaleString('en-US')})` : '') +
    `, failed ${s.ok ? 0 : 1}, ${s.seconds.toFixed(1)}s, ${rate.toLocaleString('en-US')} relationships/s, peak RSS ${s.peakRssMb} MB` +
    (s.error ? ` - ${s.error}` : '')
  );
}
