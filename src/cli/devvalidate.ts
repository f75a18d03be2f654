import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The same path from src/cli/ and from the compiled dist/cli/: the checkout's root is two up.
const ensureScript = fileURLToPath(
  new URL('../../scripts/playground/devvalidate/ensure.sh', import.meta.url),
);

/** SpiceDB's development package's version, the one devvalidate/go.mod pins. */
export const DEVELOPMENT_PACKAGE = "SpiceDB v1.56.2's development package";

/**
 * The path of devvalidate (SpiceDB v1.56.2's development package behind a command line, see
 * scripts/playground/devvalidate/main.go), built with Go the first time. Throws with the reason
 * when it cannot be had: every caller needs SpiceDB's verdict, there is no fallback.
 */
export function devvalidateBinary(): string {
  const ensured = spawnSync('bash', [ensureScript], { encoding: 'utf8', timeout: 900_000 });
  const binary = (ensured.stdout ?? '').trim();
  if (ensured.status !== 0 || binary === '') {
    const reason = ensured.error?.message ?? (ensured.stderr ?? '').trim();
    throw new Error(
      `devvalidate is not available (bash scripts/playground/devvalidate/ensure.sh builds it with Go): ${reason}`,
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

/** One error or warning as SpiceDB reports it; `line` is 1-based in the file (0: no position). */
export interface DevProblem {
  line: number;
  column: number;
  message: string;
  /** SCHEMA, RELATIONSHIP, ASSERTION, VALIDATION_YAML, ... */
  source: string;
  /** PARSE_ERROR, ASSERTION_FAILED, ... or WARNING. */
  kind: string;
  context?: string;
}

/** SpiceDB's verdict on one playground/validation file (`devvalidate --json FILE`). */
export interface DevReport {
  file: string;
  errors: DevProblem[];
  warnings: DevProblem[];
  assertions: number;
  expectedRelations: number;
  relationships: number;
}

/**
 * Validates a playground/validation file exactly as `zed validate` and play.authzed.com do:
 * SpiceDB's development package decodes it (schema or schemaFile, relationships, assertions,
 * expected relations), loads it into its in-memory datastore and runs every check. Throws when
 * devvalidate cannot run or cannot read the file.
 */
export function validatePlaygroundFile(file: string): DevReport {
  const run = runDevvalidate(['--json', file]);
  if (run.status !== 0 && run.status !== 1) {
    throw new Error(run.stderr.trim() || `devvalidate exited with status ${run.status}`);
  }
  return JSON.parse(run.stdout) as DevReport;
}

/** The report as devvalidate's own text mode prints it: `FILE:LINE: message`, errors first. */
export function problemLines(shown: string, report: DevReport): string[] {
  return [
    ...report.errors.map((p) => `${shown}:${p.line}: ${p.message}`),
    ...report.warnings.map((p) => `${shown}:${p.line}: warning: ${p.message}`),
  ];
}

/** The one-line summary after the problems. */
export function summaryLine(shown: string, report: DevReport, milliseconds: number): string {
  const failures = report.errors.length;
  const verdict = failures === 0 ? 'all passed' : `${failures} failure${failures === 1 ? '' : 's'}`;
  const warnings =
    report.warnings.length === 0
      ? ''
      : `, ${report.warnings.length} warning${report.warnings.length === 1 ? '' : 's'}`;
  return (
    `${shown}: ${report.assertions} assertions, ${report.expectedRelations} expected-relations entries, ` +
    `${report.relationships} relationships: ${verdict}${warnings} in ${milliseconds} ms (${DEVELOPMENT_PACKAGE})`
  );
}
