import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ID_PATTERN } from '../../src/authz/ids.js';
import { exportOrganization } from './org-export.js';
import { configuredSpiceDb } from './spicedb.js';

/**
 * `npm run playground:export -- --org ORG [--out FILE] [--anonymize] [--salt S] [--no-validation]`
 * Reads one organization's live relationships from the SpiceDB named by SPICEDB_ENDPOINT /
 * SPICEDB_TOKEN / SPICEDB_INSECURE and writes a playground file (stdout without --out).
 * Exit codes: 0 written, 1 failed, 2 bad command line or environment.
 */
const USAGE =
  'usage: npm run playground:export -- --org ORG [--out FILE] [--anonymize] [--salt SALT] [--no-validation]';

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        org: { type: 'string' },
        out: { type: 'string' },
        anonymize: { type: 'boolean', default: false },
        salt: { type: 'string' },
        'no-validation': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.org === undefined || !ID_PATTERN.test(values.org)) {
    console.error(`--org must be an organization id matching ${ID_PATTERN.source}\n${USAGE}`);
    return 2;
  }
  const spicedb = configuredSpiceDb();
  if (spicedb === undefined) {
    console.error('SPICEDB_ENDPOINT is not set: export reads a live SpiceDB (with SPICEDB_TOKEN)');
    return 2;
  }
  try {
    const schema = await spicedb.gateway.readSchema();
    const result = await exportOrganization(spicedb.gateway, values.org, schema, {
      anonymize: values.anonymize,
      ...(values.salt !== undefined ? { salt: values.salt } : {}),
      validation: !values['no-validation'],
    });
    if (values.out !== undefined) writeFileSync(values.out, result.text);
    else process.stdout.write(result.text);
    console.error(
      `organization ${values.org}: ${result.relationships} relationships, ${result.users} users, ` +
        `${result.assertions} assertions${values.out !== undefined ? ` -> ${values.out}` : ''}`,
    );
    return 0;
  } finally {
    await spicedb.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
