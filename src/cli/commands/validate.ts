import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import {
  problemLines,
  summaryLine,
  validatePlaygroundFile,
  type DevReport,
} from '../devvalidate.js';
import { EXIT, UsageError } from '../io.js';
import type { Runner } from './runner.js';

export function registerValidateCommand(program: Command, run: Runner): void {
  program
    .command('validate')
    .summary("check a playground/validation YAML file with SpiceDB's own validator")
    .argument('[file]', 'a playground file (default: playground/sample-org.yaml)')
    .option('--json', 'one JSON document on stdout')
    .addHelpText(
      'after',
      `
SpiceDB's development package (v1.56.2, the engine of play.authzed.com and zed validate, built
as scripts/playground/devvalidate) decodes the file, loads its schema (or schemaFile) and
relationships, and runs its assertions and expected relations. Each of SpiceDB's errors is
printed as FILE:LINE: message. Exit 0 when SpiceDB accepts the file, 1 when it reports errors,
2 when it cannot run.

Example:
  authz validate playground/sample-org.yaml`,
    )
    .action(
      run(async (io, file: string | undefined, flags: { json?: boolean }) => {
        const target = file ?? 'playground/sample-org.yaml';
        await access(target).catch(() => {
          throw new UsageError(`cannot read ${target}`);
        });
        const shown = path.relative(process.cwd(), target) || target;
        const started = performance.now();
        let report: DevReport;
        try {
          report = validatePlaygroundFile(target);
        } catch (error) {
          io.stderr(`authz validate: ${error instanceof Error ? error.message : String(error)}`);
          return EXIT.usage;
        }
        if (flags.json) {
          io.stdout(JSON.stringify({ ...report, file: shown, ok: report.errors.length === 0 }));
        } else {
          for (const line of problemLines(shown, report)) io.stdout(line);
          io.stdout(summaryLine(shown, report, Math.round(performance.now() - started)));
        }
        return report.errors.length === 0 ? EXIT.ok : EXIT.no;
      }),
    );
}
