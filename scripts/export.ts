/**
 * `npm run export -- FILE [flags]` is `authz export FILE [flags]` (src/cli/commands/bulk.ts): one
 * command line, one set of flags and exit codes. `authz export --help` lists them.
 */
import { runCli } from '../src/cli/index.js';

process.exitCode = await runCli(['export', ...process.argv.slice(2)]);
