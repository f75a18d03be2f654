/**
 * Read-your-writes for one service instance.
 *
 * ZedTokens are opaque, so two tokens cannot be ordered here. When writes overlap in time the
 * token acknowledged last may be the older revision; in that case reads go fully consistent
 * until a write completes with nothing overlapping it, which makes its token the newest again.
 */
export type ReadConsistency =
  | { kind: 'minimizeLatency' }
  | { kind: 'atLeastAsFresh'; token: string }
  | { kind: 'fullyConsistent' };

export type RequestedConsistency = { atLeastAsFresh: string } | { fullyConsistent: true };

export class WriteTokenTracker {
  private lastToken: string | undefined;
  private inFlight = 0;
  private overlapped = false;
  private ambiguous = false;

  /**
   * Call before sending a write. Call the returned function with the write's token, with
   * `'not-applied'` when SpiceDB refused it whole, or with `'unknown'` when it may have applied.
   */
  beginWrite(): (outcome: string) => void {
    this.inFlight += 1;
    if (this.inFlight > 1) this.overlapped = true;
    let done = false;
    return (outcome) => {
      if (done) return;
      done = true;
      this.inFlight -= 1;
      if (outcome === 'unknown') {
        this.ambiguous = true;
      } else if (outcome !== 'not-applied') {
        this.lastToken = outcome;
        // Acknowledged last is not necessarily newest when another write overlapped this one.
        this.ambiguous = this.overlapped;
      }
      if (this.inFlight === 0) this.overlapped = false;
    };
  }

  /** The consistency a read uses when its caller asked for none. */
  defaultRead(): ReadConsistency {
    if (this.ambiguous) return { kind: 'fullyConsistent' };
    if (this.lastToken !== undefined) return { kind: 'atLeastAsFresh', token: this.lastToken };
    return { kind: 'minimizeLatency' };
  }

  resolve(requested: RequestedConsistency | undefined): ReadConsistency {
    if (requested === undefined) return this.defaultRead();
    if ('fullyConsistent' in requested) return { kind: 'fullyConsistent' };
    // A caller's token never makes a read staler than this instance's own writes.
    const own = this.defaultRead();
    if (own.kind === 'fullyConsistent') return own;
    if (own.kind === 'atLeastAsFresh' && own.token !== requested.atLeastAsFresh) {
      return { kind: 'fullyConsistent' };
    }
    return { kind: 'atLeastAsFresh', token: requested.atLeastAsFresh };
  }
}
