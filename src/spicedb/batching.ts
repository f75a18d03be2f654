import type { ReadConsistency } from './consistency.js';

export interface ObjectId {
  type: string;
  id: string;
}

export interface CheckItem {
  resource: ObjectId;
  permission: string;
  subject: ObjectId;
}

export interface CheckAnswer {
  allowed: boolean;
  checkedAt: string;
}

/** One item's outcome inside a batch: its answer, or its own error. */
export type BatchItemOutcome = CheckAnswer | { error: unknown };

/**
 * Sends one batch (every item shares the consistency) and returns one outcome per item, in
 * order. Rejects only when the whole batch failed.
 */
export type CheckBatchSender = (
  items: readonly CheckItem[],
  consistency: ReadConsistency,
) => Promise<BatchItemOutcome[]>;

export interface CoalescerOptions {
  /** Most items sent in one call; larger queues are split. */
  maxBatchSize?: number;
  /**
   * How long the first check of a batch waits for company. 0 (the default) flushes on
   * setImmediate: everything that arrived in the same event-loop turn (every request the HTTP
   * server parsed in that turn, every check a batched tRPC request made) goes together, and a
   * lone check pays only a few microseconds. A positive value waits that many milliseconds.
   */
  windowMs?: number;
  /** Called once per call sent to SpiceDB with the number of distinct checks in it. */
  onBatch?: (size: number) => void;
}

export interface CoalescerCounters {
  /** Checks callers asked for. */
  checksAsked: number;
  /** Checks answered by sharing an identical check already queued or in flight. */
  checksShared: number;
  /** Batches sent (one SpiceDB call each, before any fallback or retry). */
  batches: number;
  /** Distinct checks sent, over all batches. */
  checksSent: number;
  largestBatch: number;
}

/** SpiceDB's bulk check has no hard item limit in v1.56; 1,000 keeps one call's work bounded. */
export const DEFAULT_MAX_BATCH_SIZE = 1_000;

interface Pending {
  item: CheckItem;
  promise: Promise<CheckAnswer>;
  resolve: (answer: CheckAnswer) => void;
  reject: (error: unknown) => void;
}

interface Queue {
  consistency: ReadConsistency;
  /** Whether an identical check already sent may answer for this consistency (see `shareable`). */
  shareable: boolean;
  entries: Map<string, Pending>;
}

/** Checks with different consistencies never share a call or an answer. */
export function consistencyKey(consistency: ReadConsistency): string {
  switch (consistency.kind) {
    case 'minimizeLatency':
      return 'm';
    case 'fullyConsistent':
      return 'f';
    case 'atLeastAsFresh':
      return `a:${consistency.token}`;
  }
}

/**
 * A key that only identical checks share: every part but the last is prefixed with its length,
 * so ids with any separator in them stay apart (one concatenation, no array or JSON per check).
 */
export function checkKey(item: CheckItem): string {
  const { resource, permission, subject } = item;
  return `${resource.type.length}:${resource.type}${resource.id.length}:${resource.id}${permission.length}:${permission}${subject.type.length}:${subject.type}${subject.id}`;
}

/**
 * Coalesces checks that arrive close together into bulk calls, grouped by consistency, and
 * gives identical checks one answer.
 *
 * Sharing an answer with an identical check that is already on its way is safe for
 * minimizeLatency (no freshness promised) and for atLeastAsFresh (the same token bounds both),
 * but not for fullyConsistent: a check sent before a write was acknowledged may be evaluated
 * before it, while a fully consistent check asked after it must see it. Fully consistent checks
 * therefore only share with identical ones still queued, which go out after both were asked.
 */
export class CheckCoalescer {
  readonly counters: CoalescerCounters = {
    checksAsked: 0,
    checksShared: 0,
    batches: 0,
    checksSent: 0,
    largestBatch: 0,
  };
  private readonly queues = new Map<string, Queue>();
  private readonly inFlight = new Map<string, Pending>();
  private flushScheduled = false;
  private readonly maxBatchSize: number;
  private readonly windowMs: number;

  constructor(
    private readonly send: CheckBatchSender,
    private readonly options: CoalescerOptions = {},
  ) {
    this.maxBatchSize = Math.max(1, options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE);
    this.windowMs = Math.max(0, options.windowMs ?? 0);
  }

  /** Checks not yet sent. */
  get queued(): number {
    let count = 0;
    for (const queue of this.queues.values()) count += queue.entries.size;
    return count;
  }

  check(item: CheckItem, consistency: ReadConsistency): Promise<CheckAnswer> {
    this.counters.checksAsked += 1;
    const groupKey = consistencyKey(consistency);
    const itemKey = checkKey(item);
    let queue = this.queues.get(groupKey);
    const queuedTwin = queue?.entries.get(itemKey);
    if (queuedTwin !== undefined) {
      this.counters.checksShared += 1;
      return queuedTwin.promise;
    }
    const shareable = consistency.kind !== 'fullyConsistent';
    if (shareable) {
      const sentTwin = this.inFlight.get(`${groupKey}\n${itemKey}`);
      if (sentTwin !== undefined) {
        this.counters.checksShared += 1;
        return sentTwin.promise;
      }
    }
    if (queue === undefined) {
      queue = { consistency, shareable, entries: new Map() };
      this.queues.set(groupKey, queue);
    }
    const pending = deferred(item);
    queue.entries.set(itemKey, pending);
    if (queue.entries.size >= this.maxBatchSize) {
      // A full batch leaves now; waiting would only add latency.
      this.queues.delete(groupKey);
      this.dispatch(groupKey, queue);
    } else {
      this.scheduleFlush();
    }
    return pending.promise;
  }

  /** Sends everything queued now. */
  flush(): void {
    this.flushScheduled = false;
    const queues = [...this.queues];
    this.queues.clear();
    for (const [groupKey, queue] of queues) this.dispatch(groupKey, queue);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (this.windowMs === 0) setImmediate(() => this.flush());
    else setTimeout(() => this.flush(), this.windowMs);
  }

  private dispatch(groupKey: string, queue: Queue): void {
    const entries = [...queue.entries];
    for (let start = 0; start < entries.length; start += this.maxBatchSize) {
      void this.sendBatch(groupKey, queue, entries.slice(start, start + this.maxBatchSize));
    }
  }

  private async sendBatch(
    groupKey: string,
    queue: Queue,
    batch: Array<[string, Pending]>,
  ): Promise<void> {
    this.counters.batches += 1;
    this.counters.checksSent += batch.length;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, batch.length);
    this.options.onBatch?.(batch.length);
    if (queue.shareable) {
      for (const [itemKey, pending] of batch) this.inFlight.set(`${groupKey}\n${itemKey}`, pending);
    }
    try {
      const outcomes = await this.send(
        batch.map(([, pending]) => pending.item),
        queue.consistency,
      );
      batch.forEach(([, pending], index) => {
        const outcome = outcomes[index];
        if (outcome === undefined) {
          pending.reject(new Error('SpiceDB returned no answer for this check'));
        } else if ('error' in outcome) {
          pending.reject(outcome.error);
        } else {
          pending.resolve(outcome);
        }
      });
    } catch (error) {
      for (const [, pending] of batch) pending.reject(error);
    } finally {
      if (queue.shareable) {
        for (const [itemKey, pending] of batch) {
          const key = `${groupKey}\n${itemKey}`;
          if (this.inFlight.get(key) === pending) this.inFlight.delete(key);
        }
      }
    }
  }
}

function deferred(item: CheckItem): Pending {
  let resolve!: (answer: CheckAnswer) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<CheckAnswer>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { item, promise, resolve, reject };
}
