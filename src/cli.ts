/**
 * `npx authz ...`: the service's command line, for people (readable output) and scripts (--json).
 *
 * check / lookup / explain ask the running service over HTTP, as the caller of AUTHZ_TOKEN
 * (AUTHZ_URL, default http://127.0.0.1:3000): the same answers, refusals and audit as any caller.
 * schema / import / export talk to SpiceDB directly (SPICEDB_ENDPOINT, SPICEDB_TOKEN,
 * SPICEDB_INSECURE): they are operator tasks the service does not expose.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseObjectRef } from './authz/ids.js';
import { isPublicPermission, isResourceType, PUBLIC_PERMISSIONS } from './authz/schema.js';
import { createAuthzClient, errorCodeOf, type AuthzClient } from './client.js';
import { diffLines, formatDiff } from './cli/schema-diff.js';
import { connectRemote, SCHEMA_PATH } from './spicedb/connection.js';
import { GrpcStatus, grpcStatusOf } from './spicedb/errors.js';
import { SpiceDbGateway } from './spicedb/gateway.js';

export const EXIT = {
  ok: 0,
  /** `check` answered no; `schema diff` found a difference. */
  no: 1,
  usage: 2,
  /** The service or SpiceDB refused or failed the call. */
  failed: 3,
} as const;

export const USAGE = `authz: ask the authorization service, manage its SpiceDB

Service commands (HTTP, as the caller of AUTHZ_TOKEN at AUTHZ_URL):
  authz check RESOURCE PERMISSION [SUBJECT]       e.g. authz check cluster:c1 ssh user:bob
  authz lookup resources TYPE PERMISSION [SUBJECT] e.g. authz lookup resources project view_name
  authz lookup subjects RESOURCE PERMISSION        e.g. authz lookup subjects project:p1 read_settings
  authz explain RESOURCE PERMISSION [SUBJECT]      why check answers as it does

SpiceDB commands (gRPC, SPICEDB_ENDPOINT + SPICEDB_TOKEN [+ SPICEDB_INSECURE=true]):
  authz schema diff [FILE]                         FILE (default schema.zed) against the server's
  authz schema write [FILE]                        write FILE to the server
  authz import FILE [--mode touch|create|delete] [--dry-run]
  authz export FILE

Options:
  --json            one JSON document on stdout, for scripts
  --url URL         the service (default $AUTHZ_URL or http://127.0.0.1:3000)
  --token JWT       the caller's token (default $AUTHZ_TOKEN)
  --fully-consistent | --at-least-as-fresh ZEDTOKEN   read consistency of check/lookup/explain

Exit codes: 0 yes/ok, 1 check denied or schema differs, 2 usage error, 3 refused or failed.`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
};

class UsageError extends Error {}

type Flags = {
  json: boolean;
  url?: string | undefined;
  token?: string | undefined;
  'fully-consistent': boolean;
  'at-least-as-fresh'?: string | undefined;
  mode?: string | undefined;
  'dry-run': boolean;
  help: boolean;
};

function parse(argv: string[]): { positionals: string[]; flags: Flags } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        url: { type: 'string' },
        token: { type: 'string' },
        'fully-consistent': { type: 'boolean', default: false },
        'at-least-as-fresh': { type: 'string' },
        mode: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    return { positionals, flags: values };
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function serviceClient(flags: Flags, env: NodeJS.ProcessEnv): AuthzClient {
  const token = flags.token ?? env.AUTHZ_TOKEN;
  if (!token) throw new UsageError('set AUTHZ_TOKEN (or --token) to the caller’s JWT');
  const url = flags.url ?? env.AUTHZ_URL ?? 'http://127.0.0.1:3000';
  return createAuthzClient({ url, getToken: () => token });
}

function consistencyOf(flags: Flags) {
  if (flags['fully-consistent']) return { consistency: { fullyConsistent: true as const } };
  const token = flags['at-least-as-fresh'];
  return token ? { consistency: { atLeastAsFresh: token } } : {};
}

/** RESOURCE PERMISSION [SUBJECT] as the typed client's input; a bad name is a usage error. */
function checkArgs(args: string[]) {
  const [resource, permission, subject, ...extra] = args;
  if (resource === undefined || permission === undefined || extra.length > 0) {
    throw new UsageError('expected RESOURCE PERMISSION [SUBJECT]');
  }
  const ref = parseObjectRef(resource);
  if ('error' in ref) throw new UsageError(`RESOURCE "${resource}" ${ref.error}`);
  if (!isPublicPermission(ref.type, permission)) {
    throw new UsageError(
      `"${permission}" is not a permission of ${ref.type}; one of: ${PUBLIC_PERMISSIONS[ref.type].join(', ')}`,
    );
  }
  const subjectRef = subject === undefined || subject.includes(':') ? subject : `user:${subject}`;
  return { resource, permission, ...(subjectRef !== undefined ? { subject: subjectRef } : {}) };
}

async function runService(command: string, args: string[], flags: Flags, io: CliIo) {
  const client = serviceClient(flags, io.env);
  const print = (json: unknown, text: string) =>
    io.stdout(flags.json ? JSON.stringify(json) : text);

  if (command === 'check') {
    const input = checkArgs(args);
    const answer = await client.authz.check.query({ ...input, ...consistencyOf(flags) });
    const who = input.subject ?? 'the caller';
    print(
      { ...input, ...answer },
      `${answer.allowed ? 'ALLOWED' : 'DENIED'}  ${who} ${answer.allowed ? 'can' : 'cannot'} ${input.permission} on ${input.resource}`,
    );
    return answer.allowed ? EXIT.ok : EXIT.no;
  }

  if (command === 'explain') {
    const input = checkArgs(args);
    const answer = await client.authz.explain.query({ ...input, ...consistencyOf(flags) });
    const lines = [`${answer.allowed ? 'ALLOWED' : 'DENIED'}  ${answer.explanation}`];
    if (answer.path.length > 0) lines.push(`path:    ${answer.path.join(' -> ')}`);
    for (const r of answer.relationships) lines.push(`  via    ${r}`);
    for (const m of answer.missing) lines.push(`  needs  ${m}`);
    for (const rule of answer.rules) lines.push(`  rule   ${rule}`);
    print(answer, lines.join('\n'));
    return answer.allowed ? EXIT.ok : EXIT.no;
  }

  if (command === 'lookup') {
    const [kind, ...rest] = args;
    if (kind === 'resources') {
      const [type, permission, subject, ...extra] = rest;
      if (type === undefined || permission === undefined || extra.length > 0) {
        throw new UsageError('expected lookup resources TYPE PERMISSION [SUBJECT]');
      }
      if (!isResourceType(type)) throw new UsageError(`unknown resource type "${type}"`);
      if (!isPublicPermission(type, permission)) {
        throw new UsageError(`"${permission}" is not a permission of ${type}`);
      }
      const resourceIds: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.authz.lookupResources.query({
          resourceType: type,
          permission,
          ...(subject !== undefined
            ? { subject: subject.includes(':') ? subject : `user:${subject}` }
            : {}),
          ...(cursor !== undefined ? { cursor } : {}),
          ...consistencyOf(flags),
        });
        resourceIds.push(...page.resourceIds);
        cursor = page.cursor;
      } while (cursor !== undefined);
      const ids = [...new Set(resourceIds)].sort();
      print({ resourceIds: ids }, ids.map((id) => `${type}:${id}`).join('\n'));
      return EXIT.ok;
    }
    if (kind === 'subjects') {
      const [resource, permission, ...extra] = rest;
      if (resource === undefined || permission === undefined || extra.length > 0) {
        throw new UsageError('expected lookup subjects RESOURCE PERMISSION');
      }
      const input = checkArgs([resource, permission]);
      const { subjectIds } = await client.authz.lookupSubjects.query({
        ...input,
        ...consistencyOf(flags),
      });
      print({ subjectIds }, subjectIds.map((id) => `user:${id}`).join('\n'));
      return EXIT.ok;
    }
    throw new UsageError('expected lookup resources ... or lookup subjects ...');
  }
  throw new UsageError(`unknown command "${command}"`);
}

function spiceDbGateway(env: NodeJS.ProcessEnv): SpiceDbGateway {
  const endpoint = env.SPICEDB_ENDPOINT?.trim();
  const token = env.SPICEDB_TOKEN?.trim();
  if (!endpoint || !token) {
    throw new UsageError('set SPICEDB_ENDPOINT (host:port) and SPICEDB_TOKEN for this command');
  }
  const insecure = ['true', '1'].includes(env.SPICEDB_INSECURE ?? '');
  const timeoutMs = Number(env.SPICEDB_TIMEOUT_MS ?? 10_000) || 10_000;
  return new SpiceDbGateway(connectRemote({ endpoint, token, insecure }), {
    timeoutMs,
    checkBatching: false,
  });
}

async function runSchema(args: string[], flags: Flags, io: CliIo) {
  const [action, file = SCHEMA_PATH, ...extra] = args;
  if ((action !== 'diff' && action !== 'write') || extra.length > 0) {
    throw new UsageError('expected schema diff [FILE] or schema write [FILE]');
  }
  const wanted = await readFile(file, 'utf8').catch(() => {
    throw new UsageError(`cannot read ${file}`);
  });
  const gateway = spiceDbGateway(io.env);
  try {
    if (action === 'write') {
      await gateway.writeSchema(wanted);
      const text = `wrote ${file} to SpiceDB at ${io.env.SPICEDB_ENDPOINT}`;
      io.stdout(flags.json ? JSON.stringify({ written: true, file }) : text);
      return EXIT.ok;
    }
    let current = '';
    try {
      current = await gateway.readSchema();
    } catch (error) {
      // An empty server has no schema: everything in FILE is new.
      if (grpcStatusOf(error)?.code !== GrpcStatus.NOT_FOUND) throw error;
    }
    const lines = diffLines(current, wanted);
    const same = lines.every((line) => line.op === ' ');
    if (flags.json) {
      io.stdout(JSON.stringify({ same, file, diff: same ? [] : formatDiff(lines) }));
    } else if (same) {
      io.stdout(`${file} matches the schema in SpiceDB`);
    } else {
      io.stdout(
        [`--- SpiceDB at ${io.env.SPICEDB_ENDPOINT}`, `+++ ${file}`, ...formatDiff(lines)].join(
          '\n',
        ),
      );
    }
    return same ? EXIT.ok : EXIT.no;
  } finally {
    gateway.close();
  }
}

/** import/export are the bulk scripts (scripts/import.ts, scripts/export.ts), run as they are. */
async function runBulk(command: 'import' | 'export', args: string[], flags: Flags, io: CliIo) {
  const [file, ...extra] = args;
  if (file === undefined || extra.length > 0) throw new UsageError(`expected ${command} FILE`);
  spiceDbGateway(io.env).close();
  const script = fileURLToPath(new URL(`../scripts/${command}.ts`, import.meta.url));
  const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');
  const scriptArgs = [file];
  if (command === 'import') {
    if (flags.mode !== undefined) scriptArgs.push('--mode', flags.mode);
    if (flags['dry-run']) scriptArgs.push('--dry-run');
  }
  const child = spawn(process.execPath, [tsxCli, script, ...scriptArgs], {
    env: io.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  const summary = output.trim().split('\n').at(-1) ?? '';
  if (flags.json) {
    io.stdout(
      JSON.stringify({ ok: code === 0, exitCode: code, file, summary, errors: errors.trim() }),
    );
  } else {
    if (output.trim()) io.stdout(output.trimEnd());
    if (errors.trim()) io.stderr(errors.trimEnd());
  }
  // The bulk scripts have exit codes of their own (1 invalid file, 2 usage, 3 write failed).
  return code;
}

/** Runs one command line; returns the exit code. */
export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  let flags: Flags | undefined;
  try {
    const parsed = parse(argv);
    flags = parsed.flags;
    const [command, ...args] = parsed.positionals;
    if (flags.help || command === undefined || command === 'help') {
      io.stdout(USAGE);
      return command === undefined && !flags.help ? EXIT.usage : EXIT.ok;
    }
    if (command === 'schema') return await runSchema(args, flags, io);
    if (command === 'import' || command === 'export') {
      return await runBulk(command, args, flags, io);
    }
    return await runService(command, args, flags, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`authz: ${error.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    const code = errorCodeOf(error);
    const message = error instanceof Error ? error.message : String(error);
    if (flags?.json) {
      io.stdout(JSON.stringify({ error: { code: code ?? 'FAILED', message } }));
    } else {
      io.stderr(`authz: ${code ? `${code}: ` : ''}${message}`);
    }
    return EXIT.failed;
  }
}
