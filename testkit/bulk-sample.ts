/**
 * Deterministic relationship files of any size, shaped like the platform's data: projects in
 * organizations, their admins and members, clusters and volumes. Used by tests and benchmarks.
 * Every twentieth line is a `project#organization` line, so imports also derive inverses.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { preamble, serialize, type BulkFormat } from '../src/bulk/formats.js';
import type { RelationshipTuple } from '../src/bulk/relationship.js';

const PER_PROJECT = 20;

export function sampleRelationship(index: number, prefix = ''): RelationshipTuple {
  const project = Math.floor(index / PER_PROJECT);
  const slot = index % PER_PROJECT;
  const p = `${prefix}p${project}`;
  const org = `${prefix}o${Math.floor(project / 50)}`;
  const user = (k: number) => `${prefix}u${(project * 13 + k * 7919) % 200_003}`;
  if (slot === 0) return rel('project', p, 'organization', 'organization', org);
  if (slot === 1) return rel('project', p, 'admin', 'user', user(0));
  if (slot <= 11) return rel('project', p, 'member', 'user', user(slot));
  if (slot <= 15) return rel('cluster', `${p}-c${slot}`, 'project', 'project', p);
  if (slot <= 18) return rel('volume', `${p}-v${slot}`, 'project', 'project', p);
  return rel('organization', org, 'member', 'user', `${prefix}m${project}`);
}

const rel = (
  resourceType: string,
  resourceId: string,
  relation: string,
  subjectType: string,
  subjectId: string,
): RelationshipTuple => ({ resourceType, resourceId, relation, subjectType, subjectId });

/** Writes `count` sample relationships in `format`, respecting the stream's backpressure. */
export async function writeSampleFile(
  file: string,
  count: number,
  format: BulkFormat,
  options: { prefix?: string; schemaText?: string } = {},
): Promise<void> {
  const out = createWriteStream(file);
  const head = preamble(format, options.schemaText ?? '');
  if (head) out.write(head);
  let buffer = '';
  for (let index = 0; index < count; index += 1) {
    buffer += serialize(format, sampleRelationship(index, options.prefix));
    if (buffer.length > 1 << 16) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  }
  out.end(buffer);
  await once(out, 'finish');
}
