import type { Command } from 'commander';
import { typePairOf } from '../../authz/check-pair.js';
import { RESOURCE_TYPES } from '../../authz/schema.js';
import { resolveTarget, type ServiceTarget } from '../contexts.js';
import { colourOf, EXIT, UsageError, type CliIo } from '../io.js';
import { mintDevToken, serviceClient, serviceFailure } from '../service.js';
import type { Runner } from './runner.js';
import {
  checkInput,
  consistencyOf,
  permissionOf,
  resourceTypeOf,
  subjectOf,
  type ServiceFlags,
} from './service-input.js';

const CONSISTENCY_HELP = `
Consistency: without a flag the service reads at least as fresh as its own last write.`;

export function addServiceOptions(command: Command, reads = true): Command {
  command
    .option(
      '--url <url>',
      'the service (default: $AUTHZ_URL, the current context, http://127.0.0.1:3000)',
    )
    .option('--token <jwt>', "the caller's token (default: $AUTHZ_TOKEN, the current context)")
    .option('--context <name>', 'use this saved context (default: $AUTHZ_CONTEXT, the current one)')
    .option('--json', 'one JSON document on stdout, for scripts');
  if (reads) {
    command
      .option('--fully-consistent', 'read at the newest revision')
      .option('--at-least-as-fresh <zedToken>', 'read no older than this ZedToken')
      .addHelpText('after', CONSISTENCY_HELP);
  }
  return command;
}

export async function withService<T>(
  flags: ServiceFlags,
  io: CliIo,
  call: (target: ServiceTarget) => Promise<T>,
): Promise<T> {
  const target = await resolveTarget(flags, io.env);
  try {
    return await call(target);
  } catch (error) {
    throw serviceFailure(error, target);
  }
}

export function registerServiceCommands(program: Command, run: Runner): void {
  addServiceOptions(
    program
      .command('check')
      .summary('can SUBJECT do PERMISSION on RESOURCE? (exit 0 yes, 1 no)')
      .description(
        'Ask the service whether SUBJECT (default: the caller) holds PERMISSION on RESOURCE.\nAnother SUBJECT than the caller needs a token with the backend scope (authz:check).',
      )
      .argument('<resource>', 'type:id, e.g. cluster:acme_gpu1')
      .argument('<permission>', 'a permission of the resource type, e.g. ssh')
      .argument('[subject]', 'user id or user:id (default: the caller)'),
  )
    .addHelpText(
      'after',
      `
Examples:
  authz check cluster:acme_gpu1 ssh user:external_member     # ALLOWED, exit 0
  authz check cluster:acme_gpu1 scale user:external_member   # DENIED, exit 1
  authz check organization:acme read_billing --json`,
    )
    .action(
      run(
        async (
          io,
          resource: string,
          permission: string,
          subject: string | undefined,
          flags: ServiceFlags,
        ) => {
          const input = checkInput(resource, permission, subject);
          const answer = await withService(flags, io, async (target) =>
            (await serviceClient(target)).authz.check.query({ ...input, ...consistencyOf(flags) }),
          );
          if (flags.json) {
            io.stdout(JSON.stringify({ ...input, ...answer }));
          } else {
            const colour = colourOf(io);
            const who = input.subject ?? 'the caller';
            io.stdout(
              answer.allowed
                ? `${colour.green('ALLOWED')}  ${who} can ${input.permission} on ${input.resource}`
                : `${colour.red('DENIED')}  ${who} cannot ${input.permission} on ${input.resource}`,
            );
          }
          return answer.allowed ? EXIT.ok : EXIT.no;
        },
      ),
    );

  addServiceOptions(
    program
      .command('explain')
      .summary('why check answers as it does: the path of relations, or what is missing')
      .argument('<resource>', 'type:id')
      .argument('<permission>', 'a permission of the resource type')
      .argument('[subject]', 'user id or user:id (default: the caller)'),
  )
    .addHelpText(
      'after',
      `
Examples:
  authz explain cluster:acme_gpu1 ssh user:external_member
  authz explain project:acme_ml write_settings user:org_admin_not_joined --json`,
    )
    .action(
      run(
        async (
          io,
          resource: string,
          permission: string,
          subject: string | undefined,
          flags: ServiceFlags,
        ) => {
          const input = checkInput(resource, permission, subject);
          const answer = await withService(flags, io, async (target) =>
            (await serviceClient(target)).authz.explain.query({
              ...input,
              ...consistencyOf(flags),
            }),
          );
          if (flags.json) {
            io.stdout(JSON.stringify(answer));
          } else {
            const colour = colourOf(io);
            const verdict = answer.allowed ? colour.green('ALLOWED') : colour.red('DENIED');
            const lines = [`${verdict}  ${answer.explanation}`];
            if (answer.path.length > 0) lines.push(`path:    ${answer.path.join(' -> ')}`);
            for (const r of answer.relationships) lines.push(`  via    ${r}`);
            for (const m of answer.missing) lines.push(`  needs  ${m}`);
            for (const rule of answer.rules) lines.push(`  rule   ${rule}`);
            io.stdout(lines.join('\n'));
          }
          return answer.allowed ? EXIT.ok : EXIT.no;
        },
      ),
    );

  const lookup = program
    .command('lookup')
    .summary('which resources a subject can reach, or who can reach a resource')
    .addHelpText(
      'after',
      `
Examples:
  authz lookup resources project view_name user:org_member_outside
  authz lookup subjects project:acme_ml read_settings`,
    );
  addServiceOptions(
    lookup
      .command('resources')
      .summary('the resources of TYPE on which SUBJECT holds PERMISSION')
      .argument('<type>', `a resource type: ${RESOURCE_TYPES.join(', ')}`)
      .argument('<permission>', 'a permission of that type')
      .argument('[subject]', 'user id or user:id (default: the caller)'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  authz lookup resources cluster ssh user:external_member --json',
    )
    .action(
      run(
        async (
          io,
          type: string,
          permission: string,
          subject: string | undefined,
          flags: ServiceFlags,
        ) => {
          // permissionOf refused any permission not of the type, so the pair is typed.
          const pair = typePairOf(resourceTypeOf(type), permissionOf(type, permission));
          if (pair === undefined)
            throw new UsageError(`"${permission}" is not a permission of ${type}`);
          const ids = await withService(flags, io, async (target) => {
            const client = await serviceClient(target);
            const found: string[] = [];
            let cursor: string | undefined;
            do {
              const page = await client.authz.lookupResources.query({
                ...pair,
                ...(subject !== undefined ? { subject: subjectOf(subject) } : {}),
                ...(cursor !== undefined ? { cursor } : {}),
                ...consistencyOf(flags),
              });
              found.push(...page.resourceIds);
              cursor = page.cursor;
            } while (cursor !== undefined);
            return [...new Set(found)].sort();
          });
          io.stdout(
            flags.json
              ? JSON.stringify({ resourceIds: ids })
              : ids.map((id) => `${pair.resourceType}:${id}`).join('\n'),
          );
          return EXIT.ok;
        },
      ),
    );
  addServiceOptions(
    lookup
      .command('subjects')
      .summary('the users who hold PERMISSION on RESOURCE (within what the caller may see)')
      .argument('<resource>', 'type:id')
      .argument('<permission>', 'a permission of the resource type'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  authz lookup subjects project:acme_ml read_settings --json',
    )
    .action(
      run(async (io, resource: string, permission: string, flags: ServiceFlags) => {
        const input = checkInput(resource, permission, undefined);
        const { subjectIds } = await withService(flags, io, async (target) =>
          (await serviceClient(target)).authz.lookupSubjects.query({
            ...input,
            ...consistencyOf(flags),
          }),
        );
        io.stdout(
          flags.json
            ? JSON.stringify({ subjectIds })
            : subjectIds.map((id) => `user:${id}`).join('\n'),
        );
        return EXIT.ok;
      }),
    );

  program
    .command('token')
    .summary('DEVELOPMENT: mint a caller token from the service (POST /dev/token)')
    .argument('<user>', 'the user id the token speaks for')
    .option('--backend', 'with the backend scope (authz:check): may check and look up for anyone')
    .option(
      '--url <url>',
      'the service (default: $AUTHZ_URL, the current context, http://127.0.0.1:3000)',
    )
    .option('--context <name>', 'use this saved context')
    .addHelpText(
      'after',
      `
Only a service in development (no AUTH_JWT_SECRET, no AUTH_JWKS_URL) mints tokens.

Examples:
  export AUTHZ_TOKEN=$(authz token support --backend)
  authz context set local --url http://127.0.0.1:3000 --token "$(authz token owner)"`,
    )
    .action(
      run(
        async (io, user: string, flags: { backend?: boolean; url?: string; context?: string }) => {
          const target = await resolveTarget(flags, io.env);
          io.stdout(await mintDevToken(target.url, user, flags.backend === true, target));
          return EXIT.ok;
        },
      ),
    );
}
