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
import { ExpirySchedule } from './expiry-schedule.js';
import { WatchScope, type AffectedChecks } from './watch-scope.js';

export interface LiveEvent {
  resource: string;
  permission: string;
  subject: string;
  allowed: boolean;
  checkedAt: string;
}

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
/** Re-checks after an expiry: just after it, and once more in case clocks disagree a little. */
const EXPIRY_RECHECK_DELAYS_MS = [100, 1_100];

interface LiveCheck {
  item: CheckItem;
  subjectKey: string;
  label: { resource: string; permission: string; subject: string };
  allowed?: boolean;
}

const keyOf = (ref: ObjectId) => `${ref.type}:${ref.id}`;

class Subscription {
  readonly pending = new Map<number, LiveEvent>();
  readonly dirty = new Set<number>();
  /** When the oldest change behind `dirty` reached this instance (for the lag metric). */
  dirtySince: number | undefined;
  ready = false;
  rechecking = false;
  failure: Error | undefined;
  ended = false;
  private wake: (() => void) | undefined;

  constructor(
    readonly callerId: string,
    readonly checks: LiveCheck[],
  ) {}

  push(index: number, event: LiveEvent): void {
    // A slow reader gets the newest answer of each check, not every flip in between.
    this.pending.delete(index);
    this.pending.set(index, event);
    this.notify();
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  waitForNews(signal: AbortSignal | undefined): Promise<void> {
    if (this.pending.size > 0 || this.ended || this.failure !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.wake = done;
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

export class LiveAccess {
  private readonly subscriptions = new Set<Subscription>();
  private readonly bySubject = new Map<string, Set<Subscription>>();
  private readonly byPermission = new Map<string, Set<Subscription>>();
  private readonly perCaller = new Map<string, number>();
  /** Subscriptions with checks marked for a re-check since the last round. */
  private readonly dirtySubscriptions = new Set<Subscription>();
  private readonly expiries: ExpirySchedule<RelationshipChange>;
  private readonly unlisten: () => void;
  private closed = false;

  constructor(
    private readonly deps: LiveAccessDeps,
    readonly limits: LiveAccessLimits = DEFAULT_LIVE_LIMITS,
    private observer: LiveAccessObserver = {},
  ) {
    this.expiries = new ExpirySchedule((due) => this.onExpired(due.map((d) => d.value)));
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
    const open = this.perCaller.get(callerId) ?? 0;
    if (open >= this.limits.maxSubscriptionsPerCaller) {
      throw new LiveAccessLimitError(
        `caller ${callerId} already has ${open} open subscriptions (at most ${this.limits.maxSubscriptionsPerCaller}); close one first`,
      );
    }
    const subscription = new Subscription(callerId, dedupe(items).map(liveCheck));
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
    answers.forEach((answer, index) => {
      const check = subscription.checks[index] as LiveCheck;
      check.allowed = answer.allowed;
      subscription.push(index, {
        ...check.label,
        allowed: answer.allowed,
        checkedAt: answer.checkedAt,
      });
    });
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
    this.perCaller.set(subscription.callerId, (this.perCaller.get(subscription.callerId) ?? 0) + 1);
    for (const check of subscription.checks) {
      addTo(this.bySubject, check.subjectKey, subscription);
      addTo(
        this.byPermission,
        `${check.item.resource.type}#${check.item.permission}`,
        subscription,
      );
    }
    this.observer.onSubscriptions?.(this.subscriptions.size);
  }

  private unregister(subscription: Subscription): void {
    if (!this.subscriptions.delete(subscription)) return;
    subscription.ended = true;
    this.dirtySubscriptions.delete(subscription);
    const left = (this.perCaller.get(subscription.callerId) ?? 1) - 1;
    if (left > 0) this.perCaller.set(subscription.callerId, left);
    else this.perCaller.delete(subscription.callerId);
    for (const check of subscription.checks) {
      removeFrom(this.bySubject, check.subjectKey, subscription);
      removeFrom(
        this.byPermission,
        `${check.item.resource.type}#${check.item.permission}`,
        subscription,
      );
    }
    this.observer.onSubscriptions?.(this.subscriptions.size);
  }

  private onWatch(event: WatchEvent): void {
    if (event.kind === 'resync' || event.batch.schemaUpdated) {
      for (const subscription of this.subscriptions) this.markAll(subscription, performance.now());
    } else {
      for (const change of event.batch.changes) {
        this.learnExpiry(change);
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
    const candidates = new Set<Subscription>();
    if (affected.subject !== undefined) {
      for (const s of this.bySubject.get(affected.subject) ?? []) candidates.add(s);
    } else {
      for (const permission of affected.permissions) {
        for (const s of this.byPermission.get(permission) ?? []) candidates.add(s);
      }
    }
    for (const subscription of candidates) {
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
          const check = subscription.checks[index] as LiveCheck;
          if (check.allowed === answer.allowed) return;
          check.allowed = answer.allowed;
          subscription.push(index, {
            ...check.label,
            allowed: answer.allowed,
            checkedAt: answer.checkedAt,
          });
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

  private learnExpiries(subscription: Subscription): void {
    const read = this.deps.expiringRelationships;
    if (read === undefined || !this.deps.scope.usesExpiration) return;
    const subjects = new Map(subscription.checks.map((c) => [c.subjectKey, c.item.subject]));
    for (const subject of subjects.values()) {
      read(subject).then(
        (changes) => changes.forEach((change) => this.learnExpiry(change)),
        // Without the read the subscription still hears every write; only the expiry timer is missed.
        () => undefined,
      );
    }
  }

  private learnExpiry(change: RelationshipChange): void {
    const key = relationshipKey(change);
    if (change.operation === 'delete' || change.expiresAt === undefined) {
      for (const delay of EXPIRY_RECHECK_DELAYS_MS) this.expiries.delete(`${key}+${delay}`);
      return;
    }
    const at = change.expiresAt.getTime();
    if (at + EXPIRY_RECHECK_DELAYS_MS[EXPIRY_RECHECK_DELAYS_MS.length - 1]! < Date.now()) return;
    for (const delay of EXPIRY_RECHECK_DELAYS_MS)
      this.expiries.add(`${key}+${delay}`, at + delay, change);
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

function liveCheck(item: CheckItem): LiveCheck {
  return {
    item,
    subjectKey: keyOf(item.subject),
    label: {
      resource: keyOf(item.resource),
      permission: item.permission,
      subject: keyOf(item.subject),
    },
  };
}

function dedupe(items: CheckItem[]): CheckItem[] {
  const seen = new Map<string, CheckItem>();
  for (const item of items) {
    seen.set(JSON.stringify([keyOf(item.resource), item.permission, keyOf(item.subject)]), item);
  }
  return [...seen.values()];
}

function relationshipKey(change: RelationshipChange): string {
  const subject = `${keyOf(change.subject)}${change.subject.relation ? `#${change.subject.relation}` : ''}`;
  return `${keyOf(change.resource)}#${change.relation}@${subject}`;
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
