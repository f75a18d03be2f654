import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileSchema } from '../../scripts/schema/generate.js';
import type { SchemaDefinitions } from '../../src/authz/watch-scope.js';

/**
 * A test schema compiled by SpiceDB's development package, in the generated module's shape
 * (what src/authz/schema.generated.ts holds for schema.zed).
 */
export function definitionsOf(schema: string): SchemaDefinitions {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'schema-'));
  try {
    const file = path.join(dir, 'schema.zed');
    writeFileSync(file, schema);
    const compiled = compileSchema(file);
    return Object.fromEntries(
      compiled.definitions.map((d) => [
        d.name,
        {
          comment: d.comment,
          relations: Object.fromEntries(
            d.relations.map((r) => [r.name, { comment: r.comment, subjectTypes: r.subjectTypes }]),
          ),
          permissions: Object.fromEntries(
            d.permissions.map((p) => [
              p.name,
              { comment: p.comment, expression: p.expression, tree: p.tree },
            ]),
          ),
        },
      ]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
