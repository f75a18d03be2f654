/**
 * A small JSON file recording what is committed, replaced atomically (write a temporary file,
 * then rename) so a crash leaves either the old record or the new one, never half of one.
 * It is written only after SpiceDB acknowledged everything it claims.
 */
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface ImportCheckpoint {
  kind: 'import';
  version: 1;
  /** the input as it was when the run started: a changed file invalidates the record */
  file: { path: string; size: number; mtimeMs: number };
  mode: string;
  /** every relationship line up to and including this line number is committed */
  committedLine: number;
  updatedAt: string;
}

export interface ExportCheckpoint {
  kind: 'export';
  version: 1;
  /** the partial output file and how many of its bytes are complete */
  partialPath: string;
  committedBytes: number;
  relationships: number;
  /** ExportBulkRelationships' cursor after the last page written */
  cursor: string;
  updatedAt: string;
}

export function defaultCheckpointPath(file: string, kind: 'import' | 'export'): string {
  return `${path.resolve(file)}.${kind}-checkpoint.json`;
}

export function fileIdentity(file: string): ImportCheckpoint['file'] {
  const stat = statSync(file);
  return { path: path.resolve(file), size: stat.size, mtimeMs: Math.trunc(stat.mtimeMs) };
}

export function readCheckpoint<T extends { kind: string }>(
  checkpointPath: string,
  kind: T['kind'],
): T | undefined {
  if (!existsSync(checkpointPath)) return undefined;
  try {
    const value = JSON.parse(readFileSync(checkpointPath, 'utf8')) as T;
    return value.kind === kind ? value : undefined;
  } catch {
    return undefined;
  }
}

export function writeCheckpoint(checkpointPath: string, value: object): void {
  const temporary = `${checkpointPath}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value)}\n`);
  renameSync(temporary, checkpointPath);
}

export function removeCheckpoint(checkpointPath: string): void {
  rmSync(checkpointPath, { force: true });
  rmSync(`${checkpointPath}.tmp`, { force: true });
}
