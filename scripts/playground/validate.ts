import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  loadPlaygroundFile,
  parsePlaygroundFile,
  runPlaygroundChecks,
  type ParsedPlaygroundFile,
} from '../../src/authz/playground.js';
import { DEFINITIONS } from '../../src/authz/schema.generated.js';
import type { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { remove } from '../../src/spicedb/proto.js';
import { SAMPLE_ORG_FILE } from './generate.js';
import { configuredSpiceDb, isEmpty, privateSpiceDb, type ScriptSpiceDb } from './spicedb.js';

/**
 * `npm run playground:validate [FILE]`: loads a playground file's schema and relationships into
 * a real SpiceDB, runs every assertion, and compares every expected-relations entry to what
 * SpiceDB computes. Prints each failure as FILE:LINE, then a summary; exits 1 on any failure.
 *
 * SpiceDB: SPICEDB_ENDPOINT (+ SPICEDB_TOKEN, SPICEDB_INSECURE) when set, which must hold no
 * relationships (what was loaded is deleted again afterwards); else the pinned binary as
 * `spicedb serve-testing` on a free port; else the embedded library.
 */

export interface ValidationOutcome {
  failures: Array<{ line: number; message: string }>;
  assertions: number;
  expectedEntries: number;
  expectedSubjects: number;
  relationships: number;
  /** From start to end, SpiceDB's start included. */
  milliseconds: number;
  /** Loading the file and running its checks. */
  checkMilliseconds: number;
  spicedb: string;
}

async function validateOn(
  gateway: SpiceDbGateway,
  file: ParsedPlaygroundFile,
): Promise<Omit<ValidationOutcome, 'spicedb' | 'milliseconds'>> {
  const started = performance.now();
  const loaded = await loadPlaygroundFile(gateway, file);
  const consistency = loaded.token
    ? ({ kind: 'atLeastAsFresh', token: loaded.token } as const)
    : ({ kind: 'fullyConsistent' } as const);
  const report = await runPlaygroundChecks(gateway, file, consistency);
  return {
    ...report,
    failures: [...file.problems, ...loaded.problems, ...report.failures].sort(
      (a, b) => a.line - b.line,
    ),
    relationships: file.relationships.length,
    checkMilliseconds: Math.round(performance.now() - started),
  };
}

export async function validatePlaygroundText(text: string): Promise<ValidationOutcome> {
  const started = performance.now();
  const file = parsePlaygroundFile(text);
  const types = [
    ...new Set([
      ...file.relationships.map((r) => r.value.resourceType),
      ...Object.keys(DEFINITIONS),
    ]),
  ];
  const configured = configuredSpiceDb();
  let spicedb: ScriptSpiceDb;
  if (configured !== undefined) {
    if (!(await isEmpty(configured.gateway, types))) {
      await configured.close();
      throw new Error(
        `${configured.description} holds relationships: validation loads the file into it, so point SPICEDB_ENDPOINT at an empty (e.g. serve-testing) SpiceDB, or unset it`,
      );
    }
    spicedb = configured;
  } else {
    spicedb = await privateSpiceDb(file.schema.value);
  }
  try {
    const outcome = await validateOn(spicedb.gateway, file);
    return {
      ...outcome,
      milliseconds: Math.round(performance.now() - started),
      spicedb: spicedb.description,
    };
  } finally {
    if (!spicedb.own) {
      // Leave a shared server as empty as it was found.
      const updates = file.relationships.map((r) => remove(r.value));
      for (let start = 0; start < updates.length; start += 500) {
        await spicedb.gateway.write(updates.slice(start, start + 500)).catch(() => undefined);
      }
    }
    await spicedb.close();
  }
}

async function main(): Promise<number> {
  const target = process.argv[2] ?? SAMPLE_ORG_FILE;
  const shown = path.relative(process.cwd(), target) || target;
  let text: string;
  try {
    text = readFileSync(target, 'utf8');
  } catch (error) {
    console.error(
      `${shown}: cannot read it: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 2;
  }
  const outcome = await validatePlaygroundText(text);
  for (const failure of outcome.failures)
    console.log(`${shown}:${failure.line}: ${failure.message}`);
  const counts =
    `${outcome.assertions} assertions, ${outcome.expectedEntries} expected-relations entries ` +
    `(${outcome.expectedSubjects} subjects), ${outcome.relationships} relationships`;
  const verdict =
    outcome.failures.length === 0
      ? 'all passed'
      : `${outcome.failures.length} failure${outcome.failures.length === 1 ? '' : 's'}`;
  console.log(
    `${shown}: ${counts}: ${verdict} in ${outcome.milliseconds} ms (loading and checks ${outcome.checkMilliseconds} ms; ${outcome.spicedb})`,
  );
  return outcome.failures.length === 0 ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(2);
    },
  );
}
