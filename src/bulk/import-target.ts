/**
 * What an import checks lines against: the target SpiceDB's schema (written first from
 * `--schema FILE` through schema-admin, which SpiceDB refuses when it would orphan stored
 * relationships), or for a dry run without a server schema.zed as SpiceDB's compiler read it.
 */
import { writeSchema, SchemaWriteRefused } from '../authz/schema-admin.js';
import type { CallPolicy } from '../spicedb/call-policy.js';
import { readSchemaFile } from '../spicedb/connection.js';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import { generatedFacts, reflectedFacts, type SchemaFacts } from './schema-facts.js';
import { reflectSchema, type BulkClient } from './spicedb-bulk.js';

export interface TargetOptions {
  dryRun: boolean;
  client: BulkClient | undefined;
  /** written to SpiceDB before anything is read (`--schema FILE`) */
  schemaText?: string;
  /** the schema-admin path `schemaText` is written through */
  gateway?: SpiceDbGateway;
  policy: CallPolicy;
  log: (line: string) => void;
}

/** The facts, or the plain reason there are none (nothing is written then). */
export async function targetFacts(
  options: TargetOptions,
): Promise<{ facts: SchemaFacts } | { error: string }> {
  if (options.dryRun) {
    if (options.schemaText !== undefined && options.schemaText !== (await readSchemaFile())) {
      return {
        error:
          'a dry run checks lines against schema.zed as SpiceDB compiled it (src/authz/schema.generated.ts); --schema FILE is written to SpiceDB by a run without --dry-run',
      };
    }
    return { facts: generatedFacts() };
  }
  if (!options.client) throw new Error('an import needs a SpiceDB client');
  if (options.schemaText !== undefined) {
    if (!options.gateway) throw new Error('writing the schema needs a SpiceDB gateway');
    try {
      await writeSchema(options.gateway, options.schemaText);
    } catch (error) {
      if (error instanceof SchemaWriteRefused)
        return { error: `${error.message}; nothing was written` };
      throw error;
    }
    options.log('wrote the schema to SpiceDB');
  }
  const facts = reflectedFacts(await reflectSchema(options.client, options.policy));
  if (!facts) {
    return {
      error:
        'SpiceDB holds no schema, so no relationship can be written: write one first (`authz schema write FILE`, or add `--schema FILE` to this command); nothing was written',
    };
  }
  return { facts };
}
