/** The `authz` executable's entry (bin/authz.js loads it compiled, or from source via tsx). */
import { runCli } from './index.js';

process.exitCode = await runCli(process.argv.slice(2));
