/**
 * Live answers to a caller's checks: the registry behind `authz.watch`.
 *
 * Every subscription of the instance hangs off one shared Watch stream. A batch of changes is
 * matched against the schema-derived scope of each change (watch-scope.ts), only the checks it
 * can affect are re-checked, all of them in the same event-loop turn, so the coalescer sends
 * them together in CheckBulkPermissions calls, and a subscriber hears only answers that
 * changed. Re-checks run at the head revision: never older than the change that triggered
 * them, nor than any answer the subscriber already has, so a subscriber never sees an answer
 * go back in time (no stale allow after a revoke).
 */
import type { CheckAnswer, CheckItem, ObjectId } from '../spicedb/batching.js';
import type { ReadConsistency } from '../spicedb/consistency.js';
import type { RelationshipChange, RelationshipWatch, WatchEvent } from '../spicedb/watch.js';
import { RelationshipExpiries } from './live-expiries.js';
import { SubscriptionIndex } from './live-subscription-index.js';
import { Subscription, type LiveCheck, type LiveEvent } from './live-subscription.js';
import { WatchScope, type AffectedChecks } from './watch-scope.js';

export type { LiveEvent } from './live-subscription.js';

export interface LiveAccessLimits {
  maxChecksPerSubscription: number;
  maxSubscriptionsPerCaller: number;
}

export const DEFAULT_LIVE_LIMITS: LiveAccessLimits = {
  maxChecksPerSubscription: 100,
  maxSubscriptionsPerCaller: 10,
};

export interface LiveAccessObserver {
  onSubscriptions?: (open: number) => void;
  /** Seconds from a change reaching this instance to its event being handed to the subscriber. */
  onEventLag?: (seconds: number) => void;
  onRecheck?: (checks: number) => void;
}

export interface LiveAccessDeps {
  watch: RelationshipWatch;
  scope: WatchScope;
  check: (item: CheckItem, consistency: ReadConsistency) => Promise<CheckAnswer>;
  /**
   * The expiring relationships whose subject is `subject` (only asked when the schema uses
   * expiration): their expiry re-checks the subscription though no write happens then.
   */
  expiringRelationships?: (subject: ObjectId) => Promise<RelationshipChange[]>;
}

export class LiveAccessLimitError extends Error {
  override name = 'LiveAccessLimitError';
}

/** The service is stopping: the subscriber should reconnect (to another instance) and resume. */
export class LiveAccessClosedError extends Error {
  override name = 'LiveAccessClosedError';
}

const HEAD: ReadConsistency = { kind: 'fullyConsistent' };

export class LiveAccess {
  private readonly subscriptions = new SubscriptionIndex();
  /** Subscriptions with checks marked for a re-check since the last round. */
  private readonly dirtySubscriptions = new Set<Subscription>();
  private readonly expiries: RelationshipExpiries;
  private readonly unlisten: () => void;
  private closed = false;

  constructor(
    private readonly deps: LiveAccessDeps,
    readonly limits: LiveAccessLimits = DEFAULT_LIVE_LIMITS,
    private observer: LiveAccessObserver = {},
  ) {
    this.expiries = new RelationshipExpiries((changes) => this.onExpired(changes));
    this.unlisten = deps.watch.listen((event) => this.onWatch(event));
  }

  /** Where subscription counts and event lag go (the service's metrics). */
  observe(observer: LiveAccessObserver): void {
    this.observer = observer;
    observer.onSubscriptions?.(this.subscriptions.size);
  }

  get watch(): RelationshipWatch {
    return this.deps.watch;
  }

  get openSubscriptions(): number {
    return this.subscriptions.size;
  }

  get scheduledExpiries(): number {
    return this.expiries.size;
  }

  /**
   * The answers to `items` now, then each change of them, until `signal` aborts. Throws
   * LiveAccessLimitError before anything is opened when a bound is exceeded.
   */
  async *open(
    callerId: string,
    items: CheckItem[],
    signal?: AbortSignal,
  ): AsyncGenerator<LiveEvent, void, undefined> {
    if (this.closed) throw new LiveAccessClosedError('the service is shutting down');
    if (items.length > this.limits.maxChecksPerSubscription) {
      throw new LiveAccessLimitError(
        `checks holds at most ${this.limits.maxChecksPerSubscription} checks per subscription`,
      );
    }
    const open = this.subscriptions.openBy(callerId);
    if (open >= this.limits.maxSubscriptionsPerCaller) {
      throw new LiveAccessLimitError(
        `caller ${callerId} already has ${open} open subscriptions (at most ${this.limits.maxSubscriptionsPerCaller}); close one first`,
      );
    }
    const subscription = new Subscription(callerId, items);
    this.register(subscription);
    try {
      yield* this.stream(subscription, signal);
    } finally {
      this.unregister(subscription);
    }
  }

  private async *stream(
    subscription: Subscription,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<LiveEvent, void, undefined> {
    const first = subscription.checks[0];
    if (first === undefined) return;
    // The stream must run from a known revision before the initial answers are read, so every
    // change after them reaches this subscription (changes before them are in the answers).
    await this.deps.watch.ensureRunning(
      async () => (await this.deps.check(first.item, HEAD)).checkedAt,
    );
    const answers = await Promise.all(
      subscription.checks.map((c) => this.deps.check(c.item, HEAD)),
    );
    answers.forEach((answer, index) => subscription.answer(index, answer));
    subscription.ready = true;
    this.learnExpiries(subscription);
    this.recheck(subscription);
    while (!signal?.aborted) {
      await subscription.waitForNews(signal);
      if (subscription.failure !== undefined) throw subscription.failure;
      if (subscription.ended) throw new LiveAccessClosedError('the service is shutting down');
      const events = [...subscription.pending.values()];
      subscription.pending.clear();
      for (const event of events) {
        if (signal?.aborted) return;
        yield event;
      }
    }
  }

  private register(subscription: Subscription): void {
    this.subscriptions.add(subscription);
    this.observer.onSubscriptions?.(this.subscriptions.size);
  }

  private unregister(subscription: Subscription): void {
    if (!this.subscriptions.delete(subscription)) return;
    subscription.ended = true;
    this.dirtySubscriptions.delete(subscription);
    this.observer.onSubscriptions?.(this.subscriptions.size);
  }

  private onWatch(event: WatchEvent): void {
    if (event.kind === 'resync' || event.batch.schemaUpdated) {
      for (const subscription of this.subscriptions) this.markAll(subscription, performance.now());
    } else {
      for (const change of event.batch.changes) {
        this.expiries.learn(change);
        this.dispatch(this.deps.scope.affected(change), event.batch.receivedAt);
      }
    }
    this.recheckDirty();
  }

  private onExpired(changes: RelationshipChange[]): void {
    const now = performance.now();
    for (const change of changes) {
      this.dispatch(this.deps.scope.affected({ ...change, operation: 'delete' }), now);
    }
    this.recheckDirty();
  }

  /** Marks every check inside `affected` dirty, looking only at subscriptions that can match. */
  private dispatch(affected: AffectedChecks, since: number): void {
    if (affected.permissions.size === 0) return;
    for (const subscription of this.subscriptions.candidates(affected)) {
      subscription.checks.forEach((check, index) => {
        const candidate = {
          resource: check.item.resource,
          permission: check.item.permission,
          subjectKey: check.subjectKey,
        };
        if (WatchScope.matches(affected, candidate)) this.markDirty(subscription, index, since);
      });
    }
  }

  private markAll(subscription: Subscription, since: number): void {
    subscription.checks.forEach((_, index) => this.markDirty(subscription, index, since));
  }

  private markDirty(subscription: Subscription, index: number, since: number): void {
    subscription.dirty.add(index);
    this.dirtySubscriptions.add(subscription);
    subscription.dirtySince = Math.min(subscription.dirtySince ?? since, since);
  }

  private recheckDirty(): void {
    const dirty = [...this.dirtySubscriptions];
    this.dirtySubscriptions.clear();
    for (const subscription of dirty) this.recheck(subscription);
  }

  /**
   * Re-checks a subscription's dirty checks at the head; marks arriving meanwhile wait for the
   * next round. Called for every subscription in one turn, so their checks share bulk calls.
   */
  private recheck(subscription: Subscription): void {
    if (!subscription.ready || subscription.rechecking || subscription.dirty.size === 0) return;
    if (subscription.ended) return;
    const indexes = [...subscription.dirty];
    const since = subscription.dirtySince ?? performance.now();
    subscription.dirty.clear();
    subscription.dirtySince = undefined;
    subscription.rechecking = true;
    this.observer.onRecheck?.(indexes.length);
    const asked = indexes.map((index) =>
      this.deps.check((subscription.checks[index] as LiveCheck).item, HEAD),
    );
    Promise.all(asked)
      .then((answers) => {
        answers.forEach((answer, position) => {
          const index = indexes[position] as number;
          if (subscription.checks[index]?.allowed === answer.allowed) return;
          subscription.answer(index, answer);
          this.observer.onEventLag?.((performance.now() - since) / 1000);
        });
      })
      .catch((error: unknown) => {
        // The subscriber reconnects and is answered afresh: nothing is lost, nothing is guessed.
        subscription.failure = error instanceof Error ? error : new Error(String(error));
        subscription.notify();
      })
      .finally(() => {
        subscription.rechecking = false;
        this.recheck(subscription);
      });
  }

  /** The subscriber's expiring relationships written before it opened (the stream missed them). */
  private learnExpiries(subscription: Subscription): void {
    const read = this.deps.expiringRelationships;
    if (read === undefined || !this.deps.scope.usesExpiration) return;
    const subjects = new Map(subscription.checks.map((c) => [c.subjectKey, c.item.subject]));
    for (const subject of subjects.values()) {
      read(subject).then(
        (changes) => changes.forEach((change) => this.expiries.learn(change)),
        // Without the read the subscription still hears every write; only the expiry timer is missed.
        () => undefined,
      );
    }
  }

  /** Ends every subscription (SIGTERM): each stream closes, its client reconnects elsewhere. */
  close(): void {
    this.closed = true;
    this.unlisten();
    this.deps.watch.close();
    this.expiries.close();
    for (const subscription of this.subscriptions) {
      subscription.ended = true;
      subscription.notify();
    }
  }
}
