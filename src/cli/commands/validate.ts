import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { CliFailure, EXIT, UsageError } from '../io.js';
import type { Runner } from './runner.js';

interface ValidationOutcome {
  failures: Array<{ line: number; message: string }>;
  assertions: number;
  relationships: number;
  milliseconds: number;
  spicedb: string;
}
type Validator = (text: string) => Promise<ValidationOutcome>;

/**
 * The playground validator is the engine's (scripts/playground/validate.ts, SpiceDB's own
 * development package): this command calls it in-process. It lives with the development
 * tooling, so a compiled install without the sources says where to run it instead.
 */
async function loadValidator(): Promise<Validator> {
  const module = new URL('../../../scripts/playground/validate.ts', import.meta.url);
  let loaded: { validatePlaygroundText?: Validator };
  try {
    loaded = (await import(module.href)) as { validatePlaygroundText?: Validator };
  } catch (error) {
    throw new CliFailure(
      `the playground validator could not be loaded (${(error as Error).message.split('\n')[0]})`,
      'UNAVAILABLE',
      'it runs from a development checkout (npm ci, source through tsx): `npm run playground:validate -- FILE`',
    );
  }
  if (typeof loaded.validatePlaygroundText !== 'function') {
    throw new CliFailure('scripts/playground/validate.ts exports no validatePlaygroundText');
  }
  return loaded.validatePlaygroundText;
}

export function registerValidateCommand(program: Command, run: Runner): void {
  program
    .command('validate')
    .summary("check a playground/validation YAML file with SpiceDB's own validator")
    .argument('[file]', 'a playground file (default: playground/sample-org.yaml)')
    .option('--json', 'one JSON document on stdout')
    .addHelpText(
      'after',
      `
Runs the file's schema, relationships, assertions and expected relations through SpiceDB
(the pinned development package, as play.authzed.com and zed validate do). Exit 1 on any
failure, each printed as FILE:LINE: message.

Example:
  authz validate playground/sample-org.yaml`,
    )
    .action(
      run(async (io, file: string | undefined, flags: { json?: boolean }) => {
        const target = file ?? 'playground/sample-org.yaml';
        const text = await readFile(target, 'utf8').catch(() => {
          throw new UsageError(`cannot read ${target}`);
        });
        const validate = await loadValidator();
        const outcome = await validate(text);
        const shown = path.relative(process.cwd(), target) || target;
        if (flags.json) {
          io.stdout(JSON.stringify({ file: shown, ok: outcome.failures.length === 0, ...outcome }));
        } else {
          for (const failure of outcome.failures) {
            io.stdout(`${shown}:${failure.line}: ${failure.message}`);
          }
          io.stdout(
            `${shown}: ${outcome.assertions} assertions, ${outcome.relationships} relationships: ${
              outcome.failures.length === 0 ? 'all passed' : `${outcome.failures.length} failed`
            } (${outcome.spicedb})`,
          );
        }
        return outcome.failures.length === 0 ? EXIT.ok : EXIT.no;
      }),
    );
}
