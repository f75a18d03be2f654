import type { CallOptions } from '@grpc/grpc-js';
import { GrpcStatus, grpcStatusOf } from './errors.js';

/**
 * What a call does, which decides what may be retried:
 * - `read`: asking again cannot change anything.
 * - `idempotent-write`: TOUCH/DELETE without preconditions; applying it twice is applying it once.
 * - `write`: a CREATE or a write with preconditions, whose first attempt may have applied when its
 *   answer was lost; only an explicit ABORTED (a serialization conflict, nothing applied) retries.
 */
export type CallKind = 'read' | 'idempotent-write' | 'write';

/**
 * Unreachable or too slow, or a serialization conflict: the only statuses a second attempt can
 * change. Anything else (invalid argument, schema mismatch, permission) fails the same way again.
 */
const RETRYABLE: Record<CallKind, readonly GrpcStatus[]> = {
  read: [GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.ABORTED],
  'idempotent-write': [GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.ABORTED],
  write: [GrpcStatus.ABORTED],
};

/** A retry is not started when less than this is left of the call's overall deadline. */
const DEADLINE_MARGIN_MS = 10;

export interface CallPolicyOptions {
  /** The deadline of one attempt. */
  attemptTimeoutMs: number;
  /** The deadline of the whole call, retries included; `Infinity` bounds attempts only. */
  totalTimeoutMs: number;
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Backoff before retry n is up to min(maxDelayMs, baseDelayMs * 2^(n-1)), jittered to half of it or more. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Told before and after every attempt (call counts, metrics). */
  observer?: CallObserver;
  /** Injected for tests: the clock deadlines are measured on, the pause, the jitter. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface CallObserver {
  attemptStarted?(method: string): void;
  attemptFinished?(method: string, seconds: number, ok: boolean): void;
}

/** Per call: a shorter deadline or fewer attempts than the policy's (a readiness probe). */
export interface CallOverrides {
  timeoutMs?: number;
  maxAttempts?: number;
  /** Told of each failed attempt that will be retried (a bulk tool logs it). */
  onRetry?: (error: unknown, attempt: number) => void;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The one call policy of every SpiceDB call: a deadline on each attempt and on the whole call,
 * which gRPC statuses retry for which kind of call, and bounded exponential backoff with jitter.
 */
export class CallPolicy {
  readonly options: Readonly<CallPolicyOptions>;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(options: CallPolicyOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
  }

  /** Whether a failed attempt of a `kind` call may be tried again. */
  retryable(error: unknown, kind: CallKind): boolean {
    const status = grpcStatusOf(error);
    return status !== undefined && RETRYABLE[kind].includes(status.code);
  }

  /** The pause before retry number `attempt` (1 after the first failure). */
  backoffMs(attempt: number): number {
    const { baseDelayMs, maxDelayMs } = this.options;
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    return ceiling * (0.5 + this.random() / 2);
  }

  /** Call options for one attempt begun now: its gRPC deadline. */
  attemptOptions(timeoutMs = this.options.attemptTimeoutMs): Partial<CallOptions> {
    return { deadline: new Date(this.now() + timeoutMs) };
  }

  /**
   * The pause before another attempt when one is allowed (a retryable status, attempts left, and
   * the pause ends before the deadline); undefined when the error is final.
   */
  retryDelay(
    error: unknown,
    kind: CallKind,
    attempt: number,
    limits: { maxAttempts?: number; deadline?: number } = {},
  ): number | undefined {
    const maxAttempts = limits.maxAttempts ?? this.options.maxAttempts;
    const deadline = limits.deadline ?? Infinity;
    if (!this.retryable(error, kind) || attempt >= maxAttempts) return undefined;
    const backoff = this.backoffMs(attempt);
    if (this.now() + backoff >= deadline - DEADLINE_MARGIN_MS) return undefined;
    return backoff;
  }

  pause(ms: number): Promise<void> {
    return this.sleep(ms);
  }

  /** Runs one call: attempts with their deadlines, retried as the policy allows. */
  async run<T>(
    method: string,
    kind: CallKind,
    attempt: (options: Partial<CallOptions>) => Promise<T>,
    overrides: CallOverrides = {},
  ): Promise<T> {
    const total = overrides.timeoutMs ?? this.options.totalTimeoutMs;
    const perAttempt = overrides.timeoutMs ?? this.options.attemptTimeoutMs;
    const maxAttempts = overrides.maxAttempts ?? this.options.maxAttempts;
    const deadline = this.now() + total;
    const observer = this.options.observer;
    for (let number = 1; ; number += 1) {
      observer?.attemptStarted?.(method);
      const started = performance.now();
      try {
        const attemptDeadline = Math.min(deadline, this.now() + perAttempt);
        const result = await attempt({ deadline: new Date(attemptDeadline) });
        observer?.attemptFinished?.(method, (performance.now() - started) / 1000, true);
        return result;
      } catch (error) {
        observer?.attemptFinished?.(method, (performance.now() - started) / 1000, false);
        const delay = this.retryDelay(error, kind, number, { maxAttempts, deadline });
        if (delay === undefined) throw error;
        overrides.onRetry?.(error, number);
        await this.sleep(delay);
      }
    }
  }
}

/**
 * The service's calls: one overall deadline per call, three attempts, 25 ms doubling to 400 ms.
 * An attempt may have a shorter deadline of its own (several SpiceDB nodes: time to retry on
 * another one).
 */
export function serviceCallPolicy(
  timeoutMs: number,
  maxAttempts = 3,
  observer?: CallObserver,
  attemptTimeoutMs = timeoutMs,
): CallPolicy {
  return new CallPolicy({
    attemptTimeoutMs: Math.min(attemptTimeoutMs, timeoutMs),
    totalTimeoutMs: timeoutMs,
    maxAttempts,
    baseDelayMs: 25,
    maxDelayMs: 400,
    ...(observer ? { observer } : {}),
  });
}
