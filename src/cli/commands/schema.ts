import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { EXIT, UsageError } from '../io.js';
import { connectSpiceDbFromEnv } from '../spicedb.js';
import type { Runner } from './runner.js';

const SPICEDB_HELP = `
SpiceDB: SPICEDB_ENDPOINT (host:port), SPICEDB_TOKEN, SPICEDB_INSECURE=true for plaintext.`;

async function schemaGateway(env: NodeJS.ProcessEnv) {
  const { connection, settings } = await connectSpiceDbFromEnv(env);
  const { SpiceDbGateway } = await import('../../spicedb/gateway.js');
  const gateway = new SpiceDbGateway(connection, {
    timeoutMs: settings.timeoutMs,
    checkBatching: false,
  });
  return { gateway, endpoint: settings.endpoint };
}

async function readSchemaArgument(file: string | undefined) {
  const { SCHEMA_PATH } = await import('../../spicedb/connection.js');
  const path = file ?? SCHEMA_PATH;
  try {
    return { path, text: await readFile(path, 'utf8') };
  } catch {
    throw new UsageError(`cannot read ${path}`);
  }
}

export function registerSchemaCommands(program: Command, run: Runner): void {
  const schema = program
    .command('schema')
    .summary("compare schema.zed with SpiceDB's schema, or write it")
    .addHelpText('after', SPICEDB_HELP);

  schema
    .command('diff')
    .summary("FILE (default schema.zed) against the server's schema (exit 1 when they differ)")
    .argument('[file]', 'a schema file (default: schema.zed)')
    .option('--json', 'one JSON document on stdout')
    .addHelpText(
      'after',
      `${SPICEDB_HELP}\n\nExample:\n  SPICEDB_ENDPOINT=127.0.0.1:50051 SPICEDB_TOKEN=key SPICEDB_INSECURE=true authz schema diff`,
    )
    .action(
      run(async (io, file: string | undefined, flags: { json?: boolean }) => {
        const wanted = await readSchemaArgument(file);
        const { gateway, endpoint } = await schemaGateway(io.env);
        try {
          // SpiceDB's own DiffSchema: \`+\` only in FILE, \`-\` only in SpiceDB, \`~\` changed.
          const { compareSchema } = await import('../../authz/schema-admin.js');
          const diff = await compareSchema(gateway, wanted.text);
          const same = diff.length === 0;
          if (flags.json) {
            io.stdout(JSON.stringify({ same, file: wanted.path, diff }));
          } else if (same) {
            io.stdout(`${wanted.path} matches the schema in SpiceDB`);
          } else {
            io.stdout([`${wanted.path} against SpiceDB at ${endpoint}:`, ...diff].join('\n'));
          }
          return same ? EXIT.ok : EXIT.no;
        } finally {
          gateway.close();
        }
      }),
    );

  schema
    .command('write')
    .summary('write FILE (default schema.zed) to SpiceDB')
    .argument('[file]', 'a schema file (default: schema.zed)')
    .option('--json', 'one JSON document on stdout')
    .addHelpText('after', SPICEDB_HELP)
    .action(
      run(async (io, file: string | undefined, flags: { json?: boolean }) => {
        const wanted = await readSchemaArgument(file);
        const { gateway, endpoint } = await schemaGateway(io.env);
        try {
          // SpiceDB refuses a change that would orphan stored relationships, naming them.
          const { writeSchema } = await import('../../authz/schema-admin.js');
          await writeSchema(gateway, wanted.text);
          io.stdout(
            flags.json
              ? JSON.stringify({ written: true, file: wanted.path })
              : `wrote ${wanted.path} to SpiceDB at ${endpoint}`,
          );
          return EXIT.ok;
        } finally {
          gateway.close();
        }
      }),
    );
}
