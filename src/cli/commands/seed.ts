import type { Command } from 'commander';
import { SAMPLE, SAMPLE_SETUP } from '../../authz/sample-org.js';
import { readConfig, resolveTarget, writeConfig, type ServiceTarget } from '../contexts.js';
import { EXIT } from '../io.js';
import { mintDevToken, serviceFailure } from '../service.js';
import type { Runner } from './runner.js';

/** The development caller that `seed` saves as the `local` context: it may ask about anyone. */
export const SEED_CONTEXT = { name: 'local', devUser: 'support' } as const;

type Mutation = (input: Record<string, unknown>) => Promise<{ zedToken: string }>;

/** Runs SAMPLE_SETUP over HTTP as each of its actors, with development tokens. */
async function seed(target: ServiceTarget): Promise<{ created: boolean; writes: number }> {
  const { createAuthzClient } = await import('../../client.js');
  const tokens = new Map<string, string>();
  let writes = 0;
  for (const [index, step] of SAMPLE_SETUP.entries()) {
    let token = tokens.get(step.actor);
    if (token === undefined) {
      token = await mintDevToken(target.url, step.actor, false, target);
      tokens.set(step.actor, token);
    }
    const bearer = token;
    const client = createAuthzClient({ url: target.url, getToken: () => bearer });
    const [router, procedure] = step.op.split('.') as [string, string];
    const call = (client as unknown as Record<string, Record<string, { mutate: Mutation }>>)[
      router
    ]?.[procedure];
    if (call === undefined) throw new Error(`the sample uses unknown procedure ${step.op}`);
    try {
      await call.mutate(step.input);
      writes += 1;
    } catch (error) {
      const code = (error as { data?: { code?: string } }).data?.code;
      // The organization is the first write: if it exists, the sample was seeded before.
      if (index === 0 && code === 'CONFLICT') return { created: false, writes: 0 };
      throw serviceFailure(error, target);
    }
  }
  return { created: true, writes };
}

export function registerSeedCommand(program: Command, run: Runner): void {
  program
    .command('seed')
    .summary('DEVELOPMENT: create the sample organization (the README and playground examples)')
    .description(
      `Creates, through the service's own procedures and development tokens (POST /dev/token):
  organization:${SAMPLE.orgId}     owner, org_admin_joined, org_admin_not_joined, org_member_in_project,
                    org_member_project_admin, org_member_outside
  project:${SAMPLE.projectId}    with org_admin_joined, org_member_in_project, org_member_project_admin (admin),
                    external_admin (admin), external_member
  project:${SAMPLE.otherProjectId}, cluster:${SAMPLE.clusterId}, volume:${SAMPLE.volumeId} (in ${SAMPLE.projectId})
and, unless --no-save-context, saves the context "${SEED_CONTEXT.name}": a backend caller ("${SEED_CONTEXT.devUser}")
minted fresh at each command, so \`authz check\` can ask about any user. A second run
changes nothing and says so.`,
    )
    .option(
      '--url <url>',
      'the service (default: $AUTHZ_URL, the current context, http://127.0.0.1:3000)',
    )
    .option('--context <name>', 'the service of this saved context')
    .option('--no-save-context', `do not save the "${SEED_CONTEXT.name}" context`)
    .option('--json', 'one JSON document on stdout')
    .addHelpText(
      'after',
      `
Examples:
  npm start            # in another terminal
  authz seed           # or: npm run seed
  authz check cluster:${SAMPLE.clusterId} ssh user:external_member     # ALLOWED
  authz check cluster:${SAMPLE.clusterId} scale user:external_member   # DENIED`,
    )
    .action(
      run(
        async (
          io,
          flags: { url?: string; context?: string; saveContext: boolean; json?: boolean },
        ) => {
          const target = await resolveTarget(flags, io.env);
          const outcome = await seed(target);
          let saved = false;
          if (flags.saveContext) {
            const config = await readConfig(io.env);
            const existing = config.contexts[SEED_CONTEXT.name];
            if (existing === undefined || existing.devUser !== undefined) {
              config.contexts[SEED_CONTEXT.name] = {
                url: target.url,
                devUser: SEED_CONTEXT.devUser,
                backend: true,
              };
              config.current = SEED_CONTEXT.name;
              await writeConfig(io.env, config);
              saved = true;
            }
          }
          if (flags.json) {
            io.stdout(
              JSON.stringify({
                url: target.url,
                orgId: SAMPLE.orgId,
                ...outcome,
                contextSaved: saved,
              }),
            );
            return EXIT.ok;
          }
          io.stdout(
            outcome.created
              ? `seeded organization:${SAMPLE.orgId} at ${target.url}: projects ${SAMPLE.projectId} and ${SAMPLE.otherProjectId}, cluster:${SAMPLE.clusterId}, volume:${SAMPLE.volumeId}, 9 users (${outcome.writes} writes)`
              : `organization:${SAMPLE.orgId} already exists at ${target.url}: nothing written`,
          );
          if (saved) {
            io.stdout(
              `current context: ${SEED_CONTEXT.name} (${target.url}, a development backend caller); try:\n` +
                `  authz check cluster:${SAMPLE.clusterId} ssh user:external_member\n` +
                `  authz check cluster:${SAMPLE.clusterId} scale user:external_member`,
            );
          }
          return EXIT.ok;
        },
      ),
    );
}
