/**
 * Verified tokens by their compact form, so a caller's token is verified once per short while
 * rather than on every request. An entry is never used past the token's `exp`, never longer
 * than `ttlMs` after it was verified, and never across a change of the trusted key set (the
 * verifier clears the cache then). Bounded: the oldest entry makes room for a new one.
 */
export interface TokenCacheOptions {
  maxEntries?: number;
  ttlMs?: number;
  now?: () => number;
}

export const DEFAULT_TOKEN_CACHE_ENTRIES = 10_000;
export const DEFAULT_TOKEN_CACHE_TTL_MS = 30_000;

interface Entry<T> {
  value: T;
  /** Epoch milliseconds after which the entry is not used. */
  validUntil: number;
}

export class VerifiedTokenCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: TokenCacheOptions = {}) {
    this.maxEntries = Math.max(0, options.maxEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES);
    this.ttlMs = Math.max(0, options.ttlMs ?? DEFAULT_TOKEN_CACHE_TTL_MS);
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  get(token: string): T | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (this.now() >= entry.validUntil) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.value;
  }

  /** Remembers a verified token; `expSeconds` is its `exp` claim, when it has one. */
  set(token: string, value: T, expSeconds: number | undefined): void {
    if (this.maxEntries === 0 || this.ttlMs === 0) return;
    const now = this.now();
    const validUntil = Math.min(
      now + this.ttlMs,
      expSeconds === undefined ? Infinity : expSeconds * 1000,
    );
    if (validUntil <= now) return;
    if (!this.entries.has(token) && this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(token, { value, validUntil });
  }

  clear(): void {
    this.entries.clear();
  }
}
