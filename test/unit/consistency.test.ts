import { describe, expect, it } from 'vitest';
import { WriteTokenTracker } from '../../src/spicedb/consistency.js';

describe('WriteTokenTracker', () => {
  it('reads with minimal latency before any write', () => {
    expect(new WriteTokenTracker().defaultRead()).toEqual({ kind: 'minimizeLatency' });
  });

  it('reads at least as fresh as a solo write', () => {
    const tracker = new WriteTokenTracker();
    tracker.beginWrite()('t1');
    expect(tracker.defaultRead()).toEqual({ kind: 'atLeastAsFresh', token: 't1' });
    tracker.beginWrite()('t2');
    expect(tracker.defaultRead()).toEqual({ kind: 'atLeastAsFresh', token: 't2' });
  });

  it('goes fully consistent after overlapping writes, back to atLeastAsFresh after a solo one', () => {
    const tracker = new WriteTokenTracker();
    const first = tracker.beginWrite();
    const second = tracker.beginWrite();
    // Acknowledged last is not necessarily the newest revision: no token can be trusted.
    second('t-second');
    first('t-first');
    expect(tracker.defaultRead()).toEqual({ kind: 'fullyConsistent' });
    // Both finished: a later write that overlaps nothing makes its token the newest again.
    tracker.beginWrite()('t-solo');
    expect(tracker.defaultRead()).toEqual({ kind: 'atLeastAsFresh', token: 't-solo' });
  });

  it('treats a write overlapping one still in flight as ambiguous even when it finishes first', () => {
    const tracker = new WriteTokenTracker();
    const slow = tracker.beginWrite();
    const fast = tracker.beginWrite();
    fast('t-fast');
    expect(tracker.defaultRead()).toEqual({ kind: 'fullyConsistent' });
    slow('t-slow');
    expect(tracker.defaultRead()).toEqual({ kind: 'fullyConsistent' });
  });

  it('ignores a refused write and a second report of the same write', () => {
    const tracker = new WriteTokenTracker();
    tracker.beginWrite()('t1');
    tracker.beginWrite()('not-applied');
    expect(tracker.defaultRead()).toEqual({ kind: 'atLeastAsFresh', token: 't1' });
    const finish = tracker.beginWrite();
    finish('t2');
    finish('t3');
    expect(tracker.defaultRead()).toEqual({ kind: 'atLeastAsFresh', token: 't2' });
  });

  it('goes fully consistent after a write that may have applied', () => {
    const tracker = new WriteTokenTracker();
    tracker.beginWrite()('t1');
    tracker.beginWrite()('unknown');
    expect(tracker.defaultRead()).toEqual({ kind: 'fullyConsistent' });
    tracker.beginWrite()('t2');
    expect(tracker.defaultRead()).toEqual({ kind: 'atLeastAsFresh', token: 't2' });
  });

  it('resolves what a caller asks for without going staler than its own writes', () => {
    const tracker = new WriteTokenTracker();
    expect(tracker.resolve({ fullyConsistent: true })).toEqual({ kind: 'fullyConsistent' });
    expect(tracker.resolve({ atLeastAsFresh: 'c1' })).toEqual({
      kind: 'atLeastAsFresh',
      token: 'c1',
    });
    tracker.beginWrite()('own');
    expect(tracker.resolve(undefined)).toEqual({ kind: 'atLeastAsFresh', token: 'own' });
    expect(tracker.resolve({ atLeastAsFresh: 'own' })).toEqual({
      kind: 'atLeastAsFresh',
      token: 'own',
    });
    // Two tokens cannot be ordered: a caller's other token makes the read fully consistent.
    expect(tracker.resolve({ atLeastAsFresh: 'theirs' })).toEqual({ kind: 'fullyConsistent' });
  });
});
