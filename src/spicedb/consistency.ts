/**
 * Read-your-writes for one service instance.
 *
 * ZedTokens are opaque, so two tokens cannot be ordered here. When writes overlap in time the
 * token acknowledged last may be the older revision; in that case reads go fully consistent
 * until either a write completes with nothing overlapping it, which makes its token the newest
 * again, or a fully consistent read proves a newer one (see `beginRead`).
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
  /** Bumped whenever a write starts or finishes: a read that saw it unchanged overlapped none. */
  private writeEpoch = 0;

  /**
   * Call before sending a write. Call the returned function with the write's token, with
   * `'not-applied'` when SpiceDB refused it whole, or with `'unknown'` when it may have applied.
   */
  beginWrite(): (outcome: string) => void {
    this.inFlight += 1;
    this.writeEpoch += 1;
    if (this.inFlight > 1) this.overlapped = true;
    let done = false;
    return (outcome) => {
      if (done) return;
      done = true;
      this.inFlight -= 1;
      this.writeEpoch += 1;
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

  /**
   * Call before sending a read with `consistency`; call the returned function with the revision
   * SpiceDB answered at (`checkedAt`, `lookedUpAt`, `readAt`).
   *
   * While overlapping writes leave the newest token unknown, a fully consistent read that began
   * with no write in flight and overlapped none was evaluated at the head revision, which holds
   * every write this instance has had acknowledged; its token is then a safe "newest" and reads
   * stop paying for full consistency. Anything less certain changes nothing.
   */
  beginRead(consistency: ReadConsistency): (revision: string) => void {
    const eligible =
      consistency.kind === 'fullyConsistent' && this.ambiguous && this.inFlight === 0;
    if (!eligible) return noop;
    const epoch = this.writeEpoch;
    return (revision) => {
      if (revision === '' || this.writeEpoch !== epoch || this.inFlight !== 0) return;
      this.lastToken = revision;
      this.ambiguous = false;
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

const noop = (): void => {};
