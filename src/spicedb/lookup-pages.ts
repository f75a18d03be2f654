import type { ClientReadableStream } from '@grpc/grpc-js';
import { GrpcStatus, grpcStatusOf } from './errors.js';
import { v1 } from './proto.js';

export interface LookupPage {
  resourceIds: string[];
  /** Present only when more results follow: the cursor after this page's last result. */
  cursor?: string;
}

export interface LookupPagesOptions {
  /** How long a paused stream waits for its next page before it is cancelled. */
  parkMs?: number;
  /** Most paused streams kept; the oldest is cancelled to make room. */
  maxParked?: number;
  /**
   * The least time a paused stream must have left before its deadline to serve another page;
   * one with less is cancelled (or never handed out) and the page asked afresh from the cursor.
   */
  minRemainingMs?: number;
}

/** Results queued before the stream is paused (a page is at most 1,000), and resumed below. */
const QUEUE_HIGH_WATER = 1_024;
const QUEUE_LOW_WATER = 256;

interface Parked {
  key: string;
  reader: PageReader;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Reads a LookupResources stream page by page, pausing it between pages.
 *
 * A page ends after `limit` results, or at the stream's end: the reader then waits for one more
 * event, so a page tells for certain whether more follow (no empty last page to ask for). While
 * paused, gRPC flow control stops SpiceDB from sending more, so a stream holds at most about a
 * page of results and a flow-control window of bytes, never the rest of the set.
 */
class PageReader {
  /** Results received and not yet read, from `head` on (an index, not shift(): O(1) a read). */
  private readonly queue: v1.LookupResourcesResponse[] = [];
  private head = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  /** Results read by pages so far: the stream failing after some is not a failure of the first. */
  delivered = 0;

  constructor(
    private readonly stream: ClientReadableStream<v1.LookupResourcesResponse>,
    /** Epoch ms at which gRPC ends the stream: the deadline of the call that opened it. */
    readonly deadline: number,
  ) {
    stream.on('data', (response: v1.LookupResourcesResponse) => {
      this.queue.push(response);
      // Pausing and resuming per message costs more than the messages: let a page's worth
      // queue, then stop the flow until a page asks for more.
      if (this.queued >= QUEUE_HIGH_WATER) stream.pause();
      this.notify();
    });
    stream.on('end', () => {
      this.ended = true;
      this.notify();
    });
    stream.on('error', (error: Error) => {
      if (!this.ended) this.failure = error;
      this.ended = true;
      this.notify();
    });
  }

  private get queued(): number {
    return this.queue.length - this.head;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The next queued result, without waiting: undefined when none is queued. */
  private take(): v1.LookupResourcesResponse | undefined {
    if (this.head >= this.queue.length) return undefined;
    const item = this.queue[this.head] as v1.LookupResourcesResponse;
    this.head += 1;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    if (this.queued === QUEUE_LOW_WATER) this.stream.resume();
    return item;
  }

  private async next(): Promise<v1.LookupResourcesResponse | undefined> {
    for (;;) {
      const item = this.take();
      if (item !== undefined) return item;
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return undefined;
      }
      this.stream.resume();
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Waits until one more result is queued or the stream has ended; true when one is queued. */
  private async hasMore(): Promise<boolean> {
    for (;;) {
      if (this.queued > 0) return true;
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return false;
      }
      this.stream.resume();
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async page(limit: number): Promise<LookupPage & { lastCursor?: string }> {
    const resourceIds: string[] = [];
    let lastCursor: string | undefined;
    let read = 0;
    while (read < limit) {
      // Queued results are read without a promise each (a page is up to 1,000 of them).
      const response = this.take() ?? (await this.next());
      if (response === undefined) return { resourceIds };
      read += 1;
      this.delivered += 1;
      if (response.permissionship === v1.LookupPermissionship.HAS_PERMISSION) {
        resourceIds.push(response.resourceObjectId);
      }
      lastCursor = response.afterResultCursor?.token ?? lastCursor;
    }
    const more = await this.hasMore();
    this.stream.pause();
    if (!more || lastCursor === undefined) return { resourceIds };
    return { resourceIds, cursor: lastCursor, lastCursor };
  }

  cancel(): void {
    this.ended = true;
    this.stream.cancel();
  }
}

/**
 * Pages of LookupResources that continue the SpiceDB stream the previous page came from.
 *
 * Asking SpiceDB again from a cursor makes it redo the lookup's walk up to that point for every
 * page; continuing the open stream costs nothing extra. The cursor handed out is SpiceDB's own,
 * so a page asked of another instance, or after the paused stream expired, is a fresh call
 * from that cursor with the same result.
 */
export class LookupPages {
  private readonly parked = new Map<string, Parked>();
  /** SpiceDB streams opened; a page continuing a paused stream opens none. */
  streamsOpened = 0;
  private readonly parkMs: number;
  private readonly maxParked: number;
  private readonly minRemainingMs: number;
  private readonly now: () => number;

  constructor(options: LookupPagesOptions & { now?: () => number } = {}) {
    this.parkMs = options.parkMs ?? 10_000;
    this.maxParked = options.maxParked ?? 64;
    this.minRemainingMs = options.minRemainingMs ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  get parkedCount(): number {
    return this.parked.size;
  }

  /**
   * The next page for `query` (a key of everything the lookup depends on), continuing a paused
   * stream when one waits at `cursor` with time left before its deadline, else from
   * `open(cursor)`, whose stream ends at `deadline` (epoch ms, the opening call's).
   */
  async page(
    query: string,
    cursor: string | undefined,
    limit: number,
    open: (cursor: string | undefined) => ClientReadableStream<v1.LookupResourcesResponse>,
    deadline = Infinity,
  ): Promise<LookupPage> {
    let reader: PageReader | undefined;
    if (cursor !== undefined) {
      const parked = this.parked.get(`${query}\n${cursor}`);
      if (parked !== undefined && !this.hasTimeLeft(parked.reader)) this.drop(parked);
      else if (parked !== undefined) {
        this.parked.delete(parked.key);
        clearTimeout(parked.timer);
        reader = parked.reader;
        try {
          return this.park(query, reader, await reader.page(limit));
        } catch (error) {
          // The paused stream failed (deadline, connection): ask SpiceDB again from the cursor.
          if (grpcStatusOf(error)?.code === GrpcStatus.INVALID_ARGUMENT) throw error;
        }
      }
    }
    this.streamsOpened += 1;
    reader = new PageReader(open(cursor), deadline);
    return this.park(query, reader, await reader.page(limit));
  }

  private park(query: string, reader: PageReader, page: LookupPage): LookupPage {
    if (page.cursor === undefined) {
      reader.cancel();
      return { resourceIds: page.resourceIds };
    }
    if (this.parked.size >= this.maxParked) {
      const oldest = this.parked.values().next().value;
      if (oldest !== undefined) this.drop(oldest);
    }
    const key = `${query}\n${page.cursor}`;
    const entry: Parked = {
      key,
      reader,
      // Parked no longer than the stream can still serve a page before its deadline.
      timer: setTimeout(
        () => this.drop(entry),
        Math.max(0, Math.min(this.parkMs, reader.deadline - this.minRemainingMs - this.now())),
      ),
    };
    entry.timer.unref();
    this.parked.set(key, entry);
    return { resourceIds: page.resourceIds, cursor: page.cursor };
  }

  private hasTimeLeft(reader: PageReader): boolean {
    return reader.deadline - this.now() >= this.minRemainingMs;
  }

  private drop(entry: Parked): void {
    clearTimeout(entry.timer);
    if (this.parked.get(entry.key) === entry) this.parked.delete(entry.key);
    entry.reader.cancel();
  }

  close(): void {
    for (const entry of [...this.parked.values()]) this.drop(entry);
  }
}
