import type { BenchCheck } from '../platform.js';
import type { CheckPair } from '../../../src/authz/check-pair.js';

/** What a block of requests gave: every latency (ms), errors, and the process's own CPU. */
export interface BlockResult {
  latencies: number[];
  errors: number;
  firstError?: string;
  seconds: number;
  /** CPU milliseconds (user + system) of the process that ran the loop, over the block. */
  cpuMs: number;
}

export type CheckOp = (check: BenchCheck) => Promise<void>;

export const cpuMsNow = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/**
 * `concurrency` workers ask `checks` in order, each starting its next request when its last
 * answered (a closed loop), until every check was asked once.
 */
export async function closedLoop(
  concurrency: number,
  checks: readonly BenchCheck[],
  op: CheckOp,
): Promise<BlockResult> {
  const latencies = new Float64Array(checks.length);
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const cpuStart = cpuMsNow();
  const started = performance.now();
  const worker = async () => {
    while (next < checks.length) {
      const check = checks[next++] as BenchCheck;
      const t0 = performance.now();
      try {
        await op(check);
        latencies[completed++] = performance.now() - t0;
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return {
    latencies: Array.from(latencies.subarray(0, completed)),
    errors,
    ...(firstError !== undefined ? { firstError: firstError.slice(0, 300) } : {}),
    seconds,
    cpuMs: cpuMsNow() - cpuStart,
  };
}

/** Pages through a lookup until it has no cursor; returns the number of results. */
export async function pageThrough(
  page: (cursor: string | undefined) => Promise<{ resourceIds: string[]; cursor?: string }>,
): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  for (let pages = 0; pages < 100_000; pages += 1) {
    const result = await page(cursor);
    count += result.resourceIds.length;
    cursor = result.cursor;
    if (cursor === undefined) break;
  }
  return count;
}

// The generated workload pairs each resource with one of its type's permissions.
export const asCheckInput = (check: BenchCheck) => ({
  ...({ resource: check.resource, permission: check.permission } as CheckPair),
  subject: check.subject,
});
