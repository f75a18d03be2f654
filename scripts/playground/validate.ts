import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { problemLines, summaryLine, validatePlaygroundFile } from '../../src/cli/devvalidate.js';

/**
 * `npm run playground:validate [FILE]` (default playground/sample-org.yaml): SpiceDB's own
 * verdict on a playground/validation file, from its development package (devvalidate, the code
 * `zed validate` and play.authzed.com run). Prints each of SpiceDB's errors as `FILE:LINE:
 * message` (warnings as `FILE:LINE: warning: message`), then a one-line summary. Exits 0 when
 * SpiceDB accepts the file, 1 when it reports errors, 2 when it cannot run.
 */
const SAMPLE_ORG_FILE = fileURLToPath(new URL('../../playground/sample-org.yaml', import.meta.url));

function main(): number {
  const target = process.argv[2] ?? SAMPLE_ORG_FILE;
  const shown = path.relative(process.cwd(), target) || target;
  try {
    accessSync(target, constants.R_OK);
  } catch (error) {
    console.error(`${shown}: cannot read it: ${(error as Error).message}`);
    return 2;
  }
  const started = performance.now();
  const report = validatePlaygroundFile(target);
  for (const line of problemLines(shown, report)) console.log(line);
  console.log(summaryLine(shown, report, Math.round(performance.now() - started)));
  return report.errors.length === 0 ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main();
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 2;
  }
}
