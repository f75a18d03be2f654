import type { Command } from 'commander';
import { colourOf, EXIT, UsageError, type CliIo } from '../io.js';
import { serviceClient } from '../service.js';
import type { Runner } from './runner.js';
import { addServiceOptions, withService } from './service.js';
import { checkInput, type ServiceFlags } from './service-input.js';

interface WatchFlags extends ServiceFlags {
  since?: string;
  count?: string;
}

function countOf(flags: WatchFlags): number | undefined {
  if (flags.count === undefined) return undefined;
  const count = Number(flags.count);
  if (!Number.isInteger(count) || count < 1) {
    throw new UsageError(
      `--count must be a whole number of events, at least 1 (got "${flags.count}")`,
    );
  }
  return count;
}

/**
 * `authz watch RESOURCE PERMISSION [SUBJECT]`: the answer now, then a line each time it
 * changes (authz.watch over SSE), until Ctrl-C or --count events. The typed client reconnects
 * by itself and resumes from the last event id, so a dropped stream misses nothing.
 */
export function registerWatchCommand(program: Command, run: Runner): void {
  addServiceOptions(
    program
      .command('watch')
      .summary('print the answer of a check now and each time it changes (Ctrl-C stops)')
      .description(
        'Subscribe to authz.watch: the current answer, then one line per change, as SpiceDB sees it.\nAnother SUBJECT than the caller needs a token with the backend scope (authz:check).',
      )
      .argument('<resource>', 'type:id, e.g. cluster:acme_gpu1')
      .argument('<permission>', 'a permission of the resource type, e.g. ssh')
      .argument('[subject]', 'user id or user:id (default: the caller)')
      .option('--since <zedToken>', 'resume after this event id (a ZedToken of an earlier event)')
      .option('--count <n>', 'exit after this many events (the first is the current answer)'),
    false,
  )
    .addHelpText(
      'after',
      `
Examples:
  authz watch cluster:acme_gpu1 ssh user:external_member          # until Ctrl-C
  authz watch project:acme_research read_settings --count 2 --json  # the answer, then one change`,
    )
    .action(
      run(
        async (
          io: CliIo,
          resource: string,
          permission: string,
          subject: string | undefined,
          flags: WatchFlags,
        ) => {
          const check = checkInput(resource, permission, subject);
          const limit = countOf(flags);
          const colour = colourOf(io);
          await withService(flags, io, async (target) => {
            const client = await serviceClient(target);
            await new Promise<void>((resolve, reject) => {
              let seen = 0;
              const stop = () => {
                subscription.unsubscribe();
                process.off('SIGINT', stop);
                resolve();
              };
              const subscription = client.authz.watch.subscribe(
                { checks: [check], ...(flags.since ? { since: flags.since } : {}) },
                {
                  onData: ({ id, data }) => {
                    if (flags.json) {
                      io.stdout(JSON.stringify({ id, ...data }));
                    } else {
                      const who = data.subject || 'the caller';
                      const verdict = data.allowed ? colour.green('ALLOWED') : colour.red('DENIED');
                      io.stdout(
                        `${verdict}  ${who} ${data.permission} on ${data.resource}  (${id})`,
                      );
                    }
                    seen += 1;
                    if (limit !== undefined && seen >= limit) stop();
                  },
                  onError: (error) => {
                    subscription.unsubscribe();
                    process.off('SIGINT', stop);
                    reject(error);
                  },
                },
              );
              process.once('SIGINT', stop);
            });
          });
          return EXIT.ok;
        },
      ),
    );
}
