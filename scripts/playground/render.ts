import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DevProblem } from '../../src/cli/devvalidate.js';
import { formatTuple, type RelationshipTuple } from '../../src/spicedb/proto.js';
import { runDevvalidate } from './devvalidate.js';

/**
 * SpiceDB's playground / validation file (what play.authzed.com imports and `zed validate`
 * runs), as the generators write it: `schema`, `relationships` (one a line, zed notation),
 * `assertions` and `validation` (the expected subjects of `type:id#permission`, in SpiceDB's
 * notation `[user:a] is <doc:1#viewer>`).
 */
export interface PlaygroundFile {
  schema: string;
  relationships: RelationshipTuple[];
  assertions: { assertTrue: string[]; assertFalse: string[] };
  validation: Array<{ resource: string; subjects: string[] }>;
}

/** A YAML single-quoted scalar (the style prettier keeps, so the checked-in file stays as generated). */
const quoted = (value: string): string => `'${value.replace(/'/g, "''")}'`;

function blockScalar(key: string, text: string): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return `${key}: |-\n${lines.map((l) => (l.trim() === '' ? '' : `  ${l.replace(/\s+$/, '')}`)).join('\n')}\n`;
}

/** Renders a playground file; the order of everything is the caller's (keep it sorted). */
export function renderPlaygroundFile(file: PlaygroundFile, header: string[] = []): string {
  const parts: string[] = [];
  if (header.length > 0) parts.push(header.map((h) => `# ${h}`.trimEnd()).join('\n') + '\n');
  parts.push(blockScalar('schema', file.schema));
  parts.push(blockScalar('relationships', file.relationships.map(formatTuple).join('\n')));
  const list = (items: string[], indent: string) =>
    items.length === 0 ? ' []\n' : `\n${items.map((i) => `${indent}- ${quoted(i)}`).join('\n')}\n`;
  parts.push(
    `assertions:\n  assertTrue:${list(file.assertions.assertTrue, '    ')}` +
      `  assertFalse:${list(file.assertions.assertFalse, '    ')}`,
  );
  parts.push(
    file.validation.length === 0
      ? 'validation: {}\n'
      : `validation:\n${file.validation
          .map((entry) => `  ${entry.resource}:${list(entry.subjects, '    ')}`)
          .join('')}`,
  );
  return parts.join('');
}

/** Per `type:id#permission`: what SpiceDB's development package computes for it. */
export interface ComputedExpected {
  /** The expected subjects as the playground's "regenerate" writes them, sorted. */
  validation: Record<string, string[]>;
  /** The subjects alone (`user:a`, `team:t#member`, `user:b[...]` when caveated), sorted. */
  subjects: Record<string, string[]>;
}

/**
 * The expected relations of `resources` (`type:id#permission`) over the schema and
 * relationships of `file`, computed by SpiceDB's development package (devvalidate `expected`:
 * RunValidation's membership set through GenerateValidation), not by this code.
 */
export function computeExpectedRelations(
  file: Pick<PlaygroundFile, 'schema' | 'relationships'>,
  resources: string[],
): ComputedExpected {
  const dir = mkdtempSync(path.join(tmpdir(), 'playground-expected-'));
  try {
    const input = path.join(dir, 'expected.yaml');
    writeFileSync(
      input,
      renderPlaygroundFile({
        ...file,
        assertions: { assertTrue: [], assertFalse: [] },
        validation: resources.map((resource) => ({ resource, subjects: [] })),
      }),
    );
    const run = runDevvalidate(['expected', input]);
    if (run.status === 2) throw new Error(`devvalidate expected: ${run.stderr.trim()}`);
    const out = JSON.parse(run.stdout) as ComputedExpected & { errors: DevProblem[] };
    if (out.errors.length > 0) {
      throw new Error(
        `SpiceDB refuses the file: ${out.errors.map((e) => `line ${e.line}: ${e.message}`).join('; ')}`,
      );
    }
    return { validation: out.validation, subjects: out.subjects };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
