import type { ClientReadableStream } from '@grpc/grpc-js';
import type { ObjectId } from './batching.js';
import { CallPolicy } from './call-policy.js';
import type { SpiceDbApi } from './connection.js';
import { GrpcStatus, grpcStatusOf } from './errors.js';
import { v1 } from './proto.js';

/** One relationship written or deleted, as the Watch API reports it, in domain terms. */
export interface RelationshipChange {
  operation: 'touch' | 'create' | 'delete';
  resource: ObjectId;
  relation: string;
  subject: ObjectId & { relation?: string };
  /** When the relationship stops counting by itself (SpiceDB's `use expiration`). */
  expiresAt?: Date;
}

/** Every change of one revision, with the ZedToken the stream is current through. */
export interface WatchBatch {
  token: string;
  changes: RelationshipChange[];
  schemaUpdated: boolean;
  /** `performance.now()` when the batch arrived, for lag metrics. */
  receivedAt: number;
}

/**
 * What a listener hears: a batch of changes, or `resync` when the stream lost its place (its
 * token fell out of SpiceDB's history) and restarted at the head: anything may have changed.
 */
export type WatchEvent = { kind: 'changes'; batch: WatchBatch } | { kind: 'resync' };

export interface RelationshipWatchOptions {
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long the stream stays open after its last listener left (reconnecting clients come back). */
  lingerMs?: number;
  onConnectedChange?: (connected: boolean) => void;
  onReconnect?: (reason: string) => void;
}

/** A cursor SpiceDB refuses to resume from: its revision was garbage-collected, or it is not a token. */
const CURSOR_REFUSED = [
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.OUT_OF_RANGE,
];

const OPERATIONS: Record<number, RelationshipChange['operation']> = {
  [v1.RelationshipUpdate_Operation.CREATE]: 'create',
  [v1.RelationshipUpdate_Operation.TOUCH]: 'touch',
  [v1.RelationshipUpdate_Operation.DELETE]: 'delete',
};

function changeOf(update: v1.RelationshipUpdate): RelationshipChange | undefined {
  const rel = update.relationship;
  const operation = OPERATIONS[update.operation];
  if (rel?.resource === undefined || rel.subject?.object === undefined || !operation) {
    return undefined;
  }
  const change: RelationshipChange = {
    operation,
    resource: { type: rel.resource.objectType, id: rel.resource.objectId },
    relation: rel.relation,
    subject: { type: rel.subject.object.objectType, id: rel.subject.object.objectId },
  };
  if (rel.subject.optionalRelation) change.subject.relation = rel.subject.optionalRelation;
  const expires = rel.optionalExpiresAt;
  if (expires !== undefined) {
    change.expiresAt = new Date(Number(expires.seconds) * 1000 + Math.floor(expires.nanos / 1e6));
  }
  return change;
}

/**
 * The one Watch stream of a service instance, shared by every live subscription.
 *
 * It starts at a revision its first user proves to be the head (`ensureRunning(probe)`), so a
 * subscription that computes its initial answers after that never misses a change; on any error
 * it reconnects from the last token it was current through, with bounded, jittered backoff, so
 * a reconnect loses nothing. When SpiceDB no longer has that revision it restarts at the head
 * and tells listeners to re-check everything (`resync`).
 */
export class RelationshipWatch {
  private readonly listeners = new Set<(event: WatchEvent) => void>();
  private stream: ClientReadableStream<v1.WatchResponse> | undefined;
  private cursor: string | undefined;
  private probe: (() => Promise<string>) | undefined;
  private starting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private isConnected = false;
  readonly counters = { batches: 0, changes: 0, reconnects: 0, resyncs: 0 };
  /** Reconnection pauses: the service's one backoff rule, with the stream's own bounds. */
  private readonly backoff: CallPolicy;

  constructor(
    private readonly api: Pick<SpiceDbApi, 'watch'>,
    private options: RelationshipWatchOptions = {},
  ) {
    this.backoff = new CallPolicy({
      // A Watch stream is open-ended: it has no deadline; only its reconnections are paced.
      attemptTimeoutMs: Infinity,
      totalTimeoutMs: Infinity,
      maxAttempts: Infinity,
      baseDelayMs: options.minBackoffMs ?? 100,
      maxDelayMs: options.maxBackoffMs ?? 5_000,
    });
  }

  /** Where connection changes and reconnects are reported (the service's metrics). */
  observe(hooks: Pick<RelationshipWatchOptions, 'onConnectedChange' | 'onReconnect'>): void {
    this.options = { ...this.options, ...hooks };
  }

  /** The ZedToken the stream is current through (undefined while stopped). */
  get position(): string | undefined {
    return this.cursor;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Registers a listener; events after this call reach it. Returns the unsubscribe function. */
  listen(listener: (event: WatchEvent) => void): () => void {
    this.listeners.add(listener);
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && !this.closed) {
        this.lingerTimer = setTimeout(() => this.stop(), this.options.lingerMs ?? 60_000);
        this.lingerTimer.unref();
      }
    };
  }

  /**
   * Resolves once the stream runs from a known revision. `probe` returns a ZedToken at the head
   * (a fully consistent read); it is asked only when the stream has no position yet.
   */
  ensureRunning(probe: () => Promise<string>): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the watch stream is closed'));
    this.probe = probe;
    if (this.cursor !== undefined) return Promise.resolve();
    this.starting ??= (async () => {
      try {
        const head = await probe();
        if (this.closed) return;
        this.cursor = head;
        this.open();
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }

  private open(): void {
    if (this.closed || this.cursor === undefined) return;
    const request = v1.WatchRequest.create({
      optionalStartCursor: v1.ZedToken.create({ token: this.cursor }),
      optionalUpdateKinds: [
        v1.WatchKind.INCLUDE_RELATIONSHIP_UPDATES,
        v1.WatchKind.INCLUDE_SCHEMA_UPDATES,
        v1.WatchKind.INCLUDE_CHECKPOINTS,
      ],
    });
    const stream = this.api.watch(request);
    this.stream = stream;
    stream.on('data', (response: v1.WatchResponse) => {
      if (this.stream !== stream) return;
      this.failures = 0;
      this.setConnected(true);
      this.receive(response);
    });
    stream.on('error', (error: unknown) => this.onStreamEnd(stream, error));
    stream.on('end', () => this.onStreamEnd(stream, undefined));
    // The stream is "connected" once SpiceDB accepted it; metadata arrives before any message.
    stream.on('metadata', () => {
      if (this.stream === stream) this.setConnected(true);
    });
  }

  private receive(response: v1.WatchResponse): void {
    const token = response.changesThrough?.token;
    if (token) this.cursor = token;
    const changes = response.updates.flatMap((u) => changeOf(u) ?? []);
    if (changes.length === 0 && !response.schemaUpdated) return; // a checkpoint: position only
    if (!token) return;
    this.counters.batches += 1;
    this.counters.changes += changes.length;
    const batch: WatchBatch = {
      token,
      changes,
      schemaUpdated: response.schemaUpdated,
      receivedAt: performance.now(),
    };
    this.emit({ kind: 'changes', batch });
  }

  private emit(event: WatchEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }

  private onStreamEnd(stream: ClientReadableStream<v1.WatchResponse>, error: unknown): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.setConnected(false);
    if (this.closed || this.cursor === undefined) return;
    const status = grpcStatusOf(error);
    if (status?.code === GrpcStatus.CANCELLED && this.listeners.size === 0) return;
    const cursorRefused = status !== undefined && CURSOR_REFUSED.includes(status.code);
    this.failures += 1;
    this.counters.reconnects += 1;
    this.options.onReconnect?.(status ? (GrpcStatus[status.code] ?? 'error') : 'ended');
    const backoff = this.backoff.backoffMs(this.failures);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (cursorRefused) this.restartAtHead();
      else this.open();
    }, backoff);
    this.retryTimer.unref();
  }

  /** The stream's revision is gone: start again at the head and have everyone re-check. */
  private restartAtHead(): void {
    const probe = this.probe;
    this.cursor = undefined;
    if (probe === undefined || this.closed) return;
    this.counters.resyncs += 1;
    this.ensureRunning(probe).then(
      () => this.emit({ kind: 'resync' }),
      (error: unknown) => {
        // The probe failed too (SpiceDB down): keep trying with backoff, position unknown.
        this.cursor = undefined;
        this.onProbeFailure(error);
      },
    );
  }

  private onProbeFailure(error: unknown): void {
    if (this.closed) return;
    this.failures += 1;
    this.options.onReconnect?.(grpcStatusOf(error) ? 'probe failed' : 'probe error');
    this.retryTimer = setTimeout(() => this.restartAtHead(), this.backoff.backoffMs(this.failures));
    this.retryTimer.unref();
  }

  private setConnected(connected: boolean): void {
    if (this.isConnected === connected) return;
    this.isConnected = connected;
    this.options.onConnectedChange?.(connected);
  }

  /** Ends the stream; the next `ensureRunning` starts again at the head. */
  stop(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.lingerTimer);
    this.retryTimer = undefined;
    this.lingerTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    this.cursor = undefined;
    this.failures = 0;
    stream?.cancel();
    this.setConnected(false);
  }

  /** For tests and the benchmark: drop the connection as a network failure would. */
  interrupt(): void {
    const stream = this.stream;
    if (stream === undefined) return;
    this.onStreamEnd(
      stream,
      Object.assign(new Error('interrupted'), { code: GrpcStatus.UNAVAILABLE }),
    );
    stream.cancel();
  }

  close(): void {
    this.closed = true;
    this.stop();
    this.listeners.clear();
  }
}
