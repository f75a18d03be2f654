/**
 * Pass 1 of an import: every line parsed by SpiceDB's grammar, checked against the target's
 * schema facts, and, with a server, judged by SpiceDB itself without being written
 * (validate-by-spicedb.ts). Problems are reported in line order; nothing is written here.
 */
import type { CallPolicy } from '../spicedb/call-policy.js';
import { readRecords, type BulkFormat } from './formats.js';
import { LineError, relationshipKey, type RelationshipTuple } from './relationship.js';
import { checkAgainstSchema, type SchemaFacts } from './schema-facts.js';
import type { BulkClient } from './spicedb-bulk.js';
import { refusedBySpiceDb } from './validate-by-spicedb.js';

export interface LineProblem {
  line: number;
  message: string;
}

export interface Validation {
  valid: number;
  invalid: number;
  /** `organization:O#project@project:P` lines the file states itself, as `O\nP` */
  explicitInverses: Set<string>;
}

export interface ValidateOptions {
  file: string;
  format: BulkFormat;
  facts: SchemaFacts;
  /** SpiceDB's own verdict on every locally valid line (no client: the facts alone) */
  spicedb?: { client: BulkClient; operation: 'touch' | 'delete'; policy: CallPolicy };
  onProblem: (problem: LineProblem) => void;
}

/** SpiceDB's limit of updates in one WriteRelationships call. */
const JUDGED_TOGETHER = 1_000;

export const explicitInverseKey = (t: RelationshipTuple): string | undefined =>
  t.resourceType === 'organization' &&
  t.relation === 'project' &&
  t.subjectType === 'project' &&
  t.subjectRelation === undefined
    ? `${t.resourceId}\n${t.subjectId}`
    : undefined;

export async function validateFile(options: ValidateOptions): Promise<Validation> {
  const { facts, spicedb } = options;
  const result: Validation = { valid: 0, invalid: 0, explicitInverses: new Set() };
  let pending: LineProblem[] = [];
  let judged: Array<{ line: number; relationship: RelationshipTuple }> = [];
  let judgedKeys = new Set<string>();

  const problem = (line: number, message: string) => {
    result.invalid += 1;
    pending.push({ line, message });
  };
  const flush = async () => {
    if (spicedb && judged.length > 0) {
      const refusals = await refusedBySpiceDb(
        spicedb.client,
        spicedb.operation,
        judged,
        spicedb.policy,
      );
      for (const { item, message } of refusals) {
        result.valid -= 1;
        problem(item.line, `SpiceDB refuses it: ${message}`);
      }
    }
    pending.sort((a, b) => a.line - b.line);
    for (const p of pending) options.onProblem(p);
    pending = [];
    judged = [];
    judgedKeys = new Set();
  };

  for await (const records of readRecords(options.file, options.format)) {
    for (const record of records) {
      if ('error' in record) {
        problem(record.line, record.error);
        continue;
      }
      try {
        checkAgainstSchema(facts, record.relationship);
      } catch (error) {
        if (!(error instanceof LineError)) throw error;
        problem(record.line, error.message);
        continue;
      }
      result.valid += 1;
      const key = explicitInverseKey(record.relationship);
      if (key !== undefined) result.explicitInverses.add(key);
      if (!spicedb) continue;
      // one write refuses two updates of one relationship: a repeat is judged in the next batch
      const identity = relationshipKey(record.relationship);
      if (judgedKeys.has(identity)) await flush();
      judgedKeys.add(identity);
      judged.push(record);
      if (judged.length >= JUDGED_TOGETHER) await flush();
    }
  }
  await flush();
  return result;
}
