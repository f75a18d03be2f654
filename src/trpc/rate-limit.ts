/**
 * Per-caller token buckets: each caller (the token's `sub`) may spend `burst` requests at once
 * and regains `perSecond` of them every second. One bucket per caller, kept in memory by this
 * service instance; a limit of 0 turns limiting off.
 */
export interface RateLimitOptions {
  perSecond: number;
  burst: number;
  /** Buckets kept at most; full (idle) buckets are forgotten first when it is reached. */
  maxCallers?: number;
  now?: () => number;
}

/** The cause of a TOO_MANY_REQUESTS refusal: when the caller may try again (`Retry-After`). */
export class RateLimited extends Error {
  override name = 'RateLimited';
  constructor(readonly retryAfterMs: number) {
    super(`rate limit exceeded; retry in ${retryAfterMs} ms`);
  }

  /** Whole seconds, at least 1, as the `Retry-After` header carries them. */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.retryAfterMs / 1000));
  }
}

/** The `Retry-After` value (seconds) for rate-limit refusals among `errors`: the longest wait. */
export function retryAfterOf(errors: readonly unknown[]): string | undefined {
  let seconds: number | undefined;
  for (const error of errors) {
    const cause = (error as { cause?: unknown } | undefined)?.cause;
    if (cause instanceof RateLimited) {
      seconds = Math.max(seconds ?? 0, cause.retryAfterSeconds);
    }
  }
  return seconds === undefined ? undefined : String(seconds);
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxCallers: number;

  constructor(private readonly options: RateLimitOptions) {
    this.now = options.now ?? (() => performance.now());
    this.maxCallers = options.maxCallers ?? 100_000;
  }

  get trackedCallers(): number {
    return this.buckets.size;
  }

  get enabled(): boolean {
    return this.options.perSecond > 0 && this.options.burst > 0;
  }

  /** Takes one token from the caller's bucket if it has one. */
  take(callerId: string): RateDecision {
    if (!this.enabled) return { allowed: true };
    const now = this.now();
    const bucket = this.refill(callerId, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    const retryAfterMs = Math.ceil(((1 - bucket.tokens) / this.options.perSecond) * 1000);
    return { allowed: false, retryAfterMs };
  }

  private refill(callerId: string, now: number): Bucket {
    const { perSecond, burst } = this.options;
    let bucket = this.buckets.get(callerId);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxCallers) this.forgetIdle(now);
      bucket = { tokens: burst, updatedAt: now };
      this.buckets.set(callerId, bucket);
      return bucket;
    }
    const elapsedSeconds = Math.max(0, now - bucket.updatedAt) / 1000;
    bucket.tokens = Math.min(burst, bucket.tokens + elapsedSeconds * perSecond);
    bucket.updatedAt = now;
    return bucket;
  }

  /** Drops buckets that have refilled (forgetting them changes nothing); else the oldest half. */
  private forgetIdle(now: number): void {
    const { perSecond, burst } = this.options;
    for (const [caller, bucket] of this.buckets) {
      const refilled = bucket.tokens + (Math.max(0, now - bucket.updatedAt) / 1000) * perSecond;
      if (refilled >= burst) this.buckets.delete(caller);
    }
    if (this.buckets.size < this.maxCallers) return;
    let toDrop = Math.ceil(this.buckets.size / 2);
    for (const caller of this.buckets.keys()) {
      if (toDrop-- <= 0) break;
      this.buckets.delete(caller);
    }
  }
}
