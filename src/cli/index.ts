/**
 * `authz ...`: the service's command line, for people (readable output, colour on a terminal)
 * and scripts (--json, exit codes). check / explain / lookup / token / seed ask the running
 * service over HTTP as a caller (a saved context, AUTHZ_URL/AUTHZ_TOKEN or --url/--token);
 * schema / import / export talk to SpiceDB directly (SPICEDB_ENDPOINT, SPICEDB_TOKEN,
 * SPICEDB_INSECURE): operator tasks the service does not expose. Heavy modules load only in
 * the command that needs them, so the CLI starts fast.
 */
import { Command, CommanderError } from 'commander';
import { registerBulkCommands } from './commands/bulk.js';
import { completionsFor, registerCompletionCommands } from './commands/completion.js';
import { registerContextCommands } from './commands/context.js';
import { createRunner } from './commands/runner.js';
import { registerSchemaCommands } from './commands/schema.js';
import { registerSeedCommand } from './commands/seed.js';
import { registerServiceCommands } from './commands/service.js';
import { registerWatchCommand } from './commands/watch.js';
import { registerValidateCommand } from './commands/validate.js';
import { CliFailure, colourOf, EXIT, processIo, UsageError, type CliIo } from './io.js';

export { EXIT, type CliIo } from './io.js';

const EPILOG = `
Start here (development):
  npm start                 # the service, embedded SpiceDB
  authz seed                # the sample organization; saves the context "local"
  authz check cluster:acme_gpu1 ssh user:external_member

Exit codes: 0 yes/ok, 1 denied / differs / invalid lines, 2 usage error, 3 refused or failed.
Run \`authz COMMAND --help\` for a command's options and examples.`;

export function buildProgram(io: CliIo, result: { code: number }): Command {
  const program = new Command('authz');
  const run = createRunner(io, result);
  program
    .description('Ask the authorization service, manage its SpiceDB')
    .version('0.1.0', '-V, --version')
    .showSuggestionAfterError(true)
    .showHelpAfterError(false)
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
    .addHelpText('after', EPILOG);
  registerServiceCommands(program, run);
  registerWatchCommand(program, run);
  registerSeedCommand(program, run);
  registerContextCommands(program, run);
  registerSchemaCommands(program, run);
  registerBulkCommands(program, run);
  registerValidateCommand(program, run);
  registerCompletionCommands(program, run);
  // Every command: errors are returned (not process.exit), output goes through io.
  const configure = (command: Command) => {
    command.exitOverride();
    command.configureOutput({
      writeOut: (text) => io.stdout(text.replace(/\n$/, '')),
      writeErr: (text) => io.stderr(text.replace(/\n$/, '')),
      outputError: (text, write) => write(text),
    });
    for (const sub of command.commands) configure(sub);
  };
  configure(program);
  return program;
}

/** Codes of the CLI's own failures: their message says it all. */
const INTERNAL_CODES = new Set(['FAILED', 'UNREACHABLE', 'UNAVAILABLE']);

/** The command a usage error belongs to, for its "see --help" hint. */
function commandPath(argv: string[], program: Command): string {
  const names: string[] = [];
  let command = program;
  for (const word of argv) {
    const sub = command.commands.find((c) => c.name() === word);
    if (sub === undefined) break;
    names.push(word);
    command = sub;
  }
  return names.length ? `authz ${names.join(' ')}` : 'authz';
}

/** Runs one command line; returns the exit code. */
export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  const result = { code: EXIT.ok as number };
  const program = buildProgram(io, result);
  if (argv[0] === '__complete') {
    for (const candidate of completionsFor(program, argv.length > 1 ? argv.slice(1) : [''])) {
      io.stdout(candidate);
    }
    return EXIT.ok;
  }
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.usage;
  }
  const json = argv.includes('--json');
  const colour = colourOf(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return result.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      if (error.exitCode === 0) return EXIT.ok;
      io.stderr(`(see \`${commandPath(argv, program)} --help\`)`);
      return EXIT.usage;
    }
    if (error instanceof UsageError) {
      io.stderr(`${colour.red('error:')} ${error.message}`);
      io.stderr(`(see \`${commandPath(argv, program)} --help\`)`);
      return EXIT.usage;
    }
    const failure =
      error instanceof CliFailure
        ? error
        : new CliFailure(error instanceof Error ? error.message : String(error));
    if (json) {
      io.stdout(
        JSON.stringify({
          error: {
            code: failure.code ?? 'FAILED',
            message: failure.message,
            ...(failure.hint ? { hint: failure.hint } : {}),
          },
        }),
      );
    } else {
      io.stderr(
        `${colour.red('error:')} ${failure.code && /^[A-Z_]+$/.test(failure.code) && !INTERNAL_CODES.has(failure.code) ? `${failure.code}: ` : ''}${failure.message}`,
      );
      if (failure.hint) io.stderr(`  ${failure.hint}`);
    }
    return EXIT.failed;
  }
}
