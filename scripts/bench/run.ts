import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench -- NAME... [--flags]`: runs the named benchmarks (all without a name) in turn,
 * each in its own process so one benchmark's memory never skews another's; flags (`--quick`)
 * go to each. Each writes its figures as JSON under bench/results/. Register a benchmark here.
 */
const BENCHMARKS: Record<string, string> = {
  checks: 'checks.bench.ts',
  cpu: 'cpu.bench.ts',
  import: 'import.bench.ts',
  watch: 'watch.bench.ts',
};

const dir = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const names = args.filter((a) => !a.startsWith('--'));
const unknown = names.filter((n) => !(n in BENCHMARKS));
if (unknown.length > 0) {
  console.error(
    `unknown benchmark ${unknown.join(' ')}; known: ${Object.keys(BENCHMARKS).join(' ')}`,
  );
  process.exit(1);
}
let failed = 0;
for (const name of names.length > 0 ? names : Object.keys(BENCHMARKS)) {
  const file = BENCHMARKS[name] as string;
  console.log(`\n=== ${name} (${file})`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, file), ...flags], {
    stdio: 'inherit',
  });
  if (result.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
