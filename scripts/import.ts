/**
 * `npm run import -- FILE [flags]` is `authz import FILE [flags]` (src/cli/commands/bulk.ts): one
 * command line, one set of flags and exit codes. `authz import --help` lists them.
 */
import { runCli } from '../src/cli/index.js';

process.exitCode = await runCli(['import', ...process.argv.slice(2)]);
