import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ensureScript = fileURLToPath(new URL('./devvalidate/ensure.sh', import.meta.url));

/**
 * The path of devvalidate (SpiceDB v1.56.2's development package behind a command line, see
 * devvalidate/main.go), built with Go the first time. Throws with the reason when it cannot be
 * had: every caller needs SpiceDB's verdict, there is no fallback.
 */
export function devvalidateBinary(): string {
  const ensured = spawnSync('bash', [ensureScript], { encoding: 'utf8', timeout: 900_000 });
  const binary = ensured.stdout.trim();
  if (ensured.status !== 0 || binary === '') {
    throw new Error(
      `devvalidate is not available (bash scripts/playground/devvalidate/ensure.sh builds it with Go): ${ensured.stderr.trim()}`,
    );
  }
  return binary;
}

/** Runs devvalidate with `args`; its stdout, stderr and exit status. */
export function runDevvalidate(args: string[]): { stdout: string; stderr: string; status: number } {
  const result = spawnSync(devvalidateBinary(), args, {
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { stdout: result.stdout, stderr: result.stderr, status: result.status ?? 2 };
}
