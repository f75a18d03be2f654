import { Metadata, type CallOptions, type ClientReadableStream } from '@grpc/grpc-js';
import {
  CheckCoalescer,
  consistencyKey,
  type BatchItemOutcome,
  type CheckAnswer,
  type CheckItem,
  type CoalescerOptions,
  type ObjectId,
} from './batching.js';
import type { SpiceDbApi, SpiceDbConnection } from './connection.js';
import {
  type ReadConsistency,
  type RequestedConsistency,
  WriteTokenTracker,
} from './consistency.js';
import { GrpcStatus, grpcStatusOf } from './errors.js';
import { LookupPages } from './lookup-pages.js';
import {
  consistencyOf,
  objectReference,
  relationshipFilter,
  subjectReference,
  tupleOf,
  v1,
  type FilterSpec,
  type RelationshipTuple,
} from './proto.js';

export type { CheckItem, ObjectId } from './batching.js';

export type CheckOutcome = { allowed: boolean } | { error: unknown };

export interface GatewayOptions {
  timeoutMs: number;
  maxAttempts?: number;
  onCall?: (method: string, seconds: number, ok: boolean) => void;
  /**
   * Coalescing of `check` calls into CheckBulkPermissions (on by default); `false` sends one
   * CheckPermission per check.
   */
  checkBatching?: CoalescerOptions | false;
  /** Called once per coalesced batch sent, with its number of distinct checks (for metrics). */
  onBatch?: (size: number) => void;
}

/** What the gateway has asked of SpiceDB, for tests, the benchmark and metrics. */
export interface GatewayStats {
  /** `check` calls made by callers. */
  checksAsked: number;
  /** Checks answered by an identical one queued or in flight. */
  checksShared: number;
  /** Coalesced batches sent. */
  batches: number;
  /** Distinct checks sent in those batches. */
  checksSent: number;
  largestBatch: number;
  /** SpiceDB calls (attempts, retries included) made for checks: CheckPermission + CheckBulkPermissions. */
  checkCalls: number;
  /** Every SpiceDB call attempt, by method (a lookup page counts one, even when it continues a stream). */
  calls: Record<string, number>;
  /** LookupResources streams opened on SpiceDB. */
  lookupStreams: number;
  /** Paused lookup streams waiting for their next page. */
  lookupStreamsParked: number;
}

/** Whole-call refusals that one bad item can cause: its neighbours are then asked one by one. */
const ITEM_ATTRIBUTABLE = [
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.OUT_OF_RANGE,
  GrpcStatus.NOT_FOUND,
];

/** An item's error inside a bulk answer, shaped like a gRPC error so errors.ts maps it. */
function itemError(status: { code: number; message: string }): Error {
  const name = GrpcStatus[status.code] ?? String(status.code);
  return Object.assign(new Error(`${status.code} ${name}: ${status.message}`), {
    code: status.code,
    details: status.message,
  });
}

const RETRYABLE_READ = [GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.ABORTED];
const RETRYABLE_WRITE = [GrpcStatus.ABORTED];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Every SpiceDB call of the service: a deadline on each, bounded retries of what is safe,
 * and the instance's read-your-writes tokens.
 */
export class SpiceDbGateway {
  readonly tokens = new WriteTokenTracker();
  private readonly api: SpiceDbApi;
  private readonly maxAttempts: number;
  private readonly coalescer: CheckCoalescer | undefined;
  private readonly callCounts: Record<string, number> = {};
  private readonly lookupPages: LookupPages;

  constructor(
    readonly connection: SpiceDbConnection,
    private readonly options: GatewayOptions,
  ) {
    this.api = connection.api;
    this.maxAttempts = options.maxAttempts ?? 3;
    // A paused lookup stream lives no longer than a call may take.
    this.lookupPages = new LookupPages({ parkMs: Math.min(10_000, options.timeoutMs) });
    if (options.checkBatching !== false) {
      const batching = options.checkBatching ?? {};
      const onBatch = batching.onBatch ?? options.onBatch;
      this.coalescer = new CheckCoalescer(
        (items, consistency) => this.sendChecks(items, consistency),
        {
          ...batching,
          ...(onBatch ? { onBatch } : {}),
        },
      );
    }
  }

  get stats(): GatewayStats {
    const counters = this.coalescer?.counters;
    const calls = { ...this.callCounts };
    return {
      checksAsked: counters?.checksAsked ?? calls.CheckPermission ?? 0,
      checksShared: counters?.checksShared ?? 0,
      batches: counters?.batches ?? 0,
      checksSent: counters?.checksSent ?? 0,
      largestBatch: counters?.largestBatch ?? 0,
      checkCalls: (calls.CheckPermission ?? 0) + (calls.CheckBulkPermissions ?? 0),
      calls,
      lookupStreams: this.lookupPages.streamsOpened,
      lookupStreamsParked: this.lookupPages.parkedCount,
    };
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  consistency(requested?: RequestedConsistency): ReadConsistency {
    return this.tokens.resolve(requested);
  }

  private callOptions(deadline: number): Partial<CallOptions> {
    return { deadline: new Date(deadline) };
  }

  /** Runs one call with retries inside a single overall deadline. */
  private async call<T>(
    method: string,
    kind: 'read' | 'write',
    run: (options: Partial<CallOptions>) => Promise<T>,
  ): Promise<T> {
    const deadline = Date.now() + this.options.timeoutMs;
    const retryable = kind === 'read' ? RETRYABLE_READ : RETRYABLE_WRITE;
    for (let attempt = 1; ; attempt += 1) {
      this.callCounts[method] = (this.callCounts[method] ?? 0) + 1;
      const started = performance.now();
      try {
        const result = await run(this.callOptions(deadline));
        this.options.onCall?.(method, (performance.now() - started) / 1000, true);
        return result;
      } catch (error) {
        this.options.onCall?.(method, (performance.now() - started) / 1000, false);
        const status = grpcStatusOf(error);
        const backoff = Math.min(400, 25 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
        const canRetry =
          status !== undefined &&
          retryable.includes(status.code) &&
          attempt < this.maxAttempts &&
          Date.now() + backoff < deadline - 10;
        if (!canRetry) throw error;
        await sleep(backoff);
      }
    }
  }

  /**
   * One check. Checks arriving together are coalesced into CheckBulkPermissions calls (see
   * batching.ts); the answer, and any error, is the same as a CheckPermission of its own.
   */
  check(item: CheckItem, consistency: ReadConsistency): Promise<CheckAnswer> {
    if (this.coalescer) return this.coalescer.check(item, consistency);
    return this.checkOne(item, consistency);
  }

  /** A coalesced batch: one item is one CheckPermission, more are one CheckBulkPermissions. */
  private async sendChecks(
    items: readonly CheckItem[],
    consistency: ReadConsistency,
  ): Promise<BatchItemOutcome[]> {
    if (items.length === 1 && items[0] !== undefined) {
      return [await this.checkOne(items[0], consistency)];
    }
    const { results, checkedAt } = await this.checkBulk(items, consistency);
    return results.map((r) => ('allowed' in r ? { allowed: r.allowed, checkedAt } : r));
  }

  private async checkOne(item: CheckItem, consistency: ReadConsistency): Promise<CheckAnswer> {
    const observe = this.tokens.beginRead(consistency);
    const response = await this.call('CheckPermission', 'read', (options) =>
      this.api.checkPermission(
        v1.CheckPermissionRequest.create({
          resource: objectReference(item.resource.type, item.resource.id),
          permission: item.permission,
          subject: subjectReference(item.subject.type, item.subject.id),
          consistency: consistencyOf(consistency),
        }),
        new Metadata(),
        options,
      ),
    );
    const checkedAt = response.checkedAt?.token ?? '';
    observe(checkedAt);
    return {
      allowed: response.permissionship === v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION,
      checkedAt,
    };
  }

  async checkWithTrace(item: CheckItem, consistency: ReadConsistency) {
    return this.call('CheckPermission', 'read', (options) =>
      this.api.checkPermission(
        v1.CheckPermissionRequest.create({
          resource: objectReference(item.resource.type, item.resource.id),
          permission: item.permission,
          subject: subjectReference(item.subject.type, item.subject.id),
          consistency: consistencyOf(consistency),
          withTracing: true,
        }),
        new Metadata(),
        options,
      ),
    );
  }

  /**
   * One CheckBulkPermissions call; an item's error is its own, never its neighbours'. When
   * SpiceDB refuses the whole call for something one item can cause (an invalid id fails the
   * request's validation), the batch is halved and each half asked again, so the bad item is
   * isolated in a few calls and only it fails.
   */
  async checkBulk(
    items: readonly CheckItem[],
    consistency: ReadConsistency,
  ): Promise<{ results: CheckOutcome[]; checkedAt: string }> {
    if (items.length === 0) return { results: [], checkedAt: '' };
    try {
      return await this.checkBulkOnce(items, consistency);
    } catch (error) {
      const status = grpcStatusOf(error);
      if (status === undefined || !ITEM_ATTRIBUTABLE.includes(status.code)) throw error;
      if (items.length === 1) return { results: [{ error }], checkedAt: '' };
      const middle = Math.ceil(items.length / 2);
      const [head, tail] = await Promise.all([
        this.checkBulk(items.slice(0, middle), consistency),
        this.checkBulk(items.slice(middle), consistency),
      ]);
      return {
        results: [...head.results, ...tail.results],
        checkedAt: head.checkedAt || tail.checkedAt,
      };
    }
  }

  private async checkBulkOnce(
    items: readonly CheckItem[],
    consistency: ReadConsistency,
  ): Promise<{ results: CheckOutcome[]; checkedAt: string }> {
    const observe = this.tokens.beginRead(consistency);
    const response = await this.call('CheckBulkPermissions', 'read', (options) =>
      this.api.checkBulkPermissions(
        v1.CheckBulkPermissionsRequest.create({
          consistency: consistencyOf(consistency),
          items: items.map((item) =>
            v1.CheckBulkPermissionsRequestItem.create({
              resource: objectReference(item.resource.type, item.resource.id),
              permission: item.permission,
              subject: subjectReference(item.subject.type, item.subject.id),
            }),
          ),
        }),
        new Metadata(),
        options,
      ),
    );
    const results = items.map((_, index): CheckOutcome => {
      const pair = response.pairs[index];
      const answer = pair?.response;
      if (answer?.oneofKind === 'item') {
        return {
          allowed:
            answer.item.permissionship === v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION,
        };
      }
      if (answer?.oneofKind === 'error') return { error: itemError(answer.error) };
      return { error: new Error('SpiceDB returned no answer for this item') };
    });
    const checkedAt = response.checkedAt?.token ?? '';
    observe(checkedAt);
    return { results, checkedAt };
  }

  /** One atomic WriteRelationships with its preconditions; returns the ZedToken. */
  async write(
    updates: v1.RelationshipUpdate[],
    preconditions: v1.Precondition[] = [],
  ): Promise<string> {
    const finish = this.tokens.beginWrite();
    try {
      const response = await this.call('WriteRelationships', 'write', (options) =>
        this.api.writeRelationships(
          v1.WriteRelationshipsRequest.create({ updates, optionalPreconditions: preconditions }),
          new Metadata(),
          options,
        ),
      );
      const token = response.writtenAt?.token ?? '';
      finish(token);
      return token;
    } catch (error) {
      const status = grpcStatusOf(error);
      // A refused precondition or invalid write applied nothing; anything else may have.
      const applied =
        status === undefined ||
        ![
          GrpcStatus.FAILED_PRECONDITION,
          GrpcStatus.INVALID_ARGUMENT,
          GrpcStatus.ALREADY_EXISTS,
        ].includes(status.code);
      finish(applied ? 'unknown' : 'not-applied');
      throw error;
    }
  }

  private collect<T>(stream: ClientReadableStream<T>, limit = Infinity): Promise<T[]> {
    return new Promise((resolve, reject) => {
      const items: T[] = [];
      stream.on('data', (item: T) => {
        items.push(item);
        if (items.length >= limit) stream.cancel();
      });
      stream.on('error', (error) => {
        if (items.length >= limit && grpcStatusOf(error)?.code === GrpcStatus.CANCELLED) {
          resolve(items);
        } else {
          reject(error);
        }
      });
      stream.on('end', () => resolve(items));
    });
  }

  async readRelationships(
    filter: FilterSpec,
    consistency: ReadConsistency,
  ): Promise<RelationshipTuple[]> {
    const observe = this.tokens.beginRead(consistency);
    const responses = await this.call('ReadRelationships', 'read', (options) =>
      this.collect(
        this.api.readRelationships(
          v1.ReadRelationshipsRequest.create({
            relationshipFilter: relationshipFilter(filter),
            consistency: consistencyOf(consistency),
          }),
          new Metadata(),
          options as CallOptions,
        ),
      ),
    );
    // An empty answer carries no revision; one with rows says where it read.
    observe(responses[0]?.readAt?.token ?? '');
    return responses.flatMap((r) => (r.relationship ? [tupleOf(r.relationship)] : []));
  }

  async exists(filter: FilterSpec, consistency: ReadConsistency): Promise<boolean> {
    const responses = await this.call('ReadRelationships', 'read', (options) =>
      this.collect(
        this.api.readRelationships(
          v1.ReadRelationshipsRequest.create({
            relationshipFilter: relationshipFilter(filter),
            consistency: consistencyOf(consistency),
            optionalLimit: 1,
          }),
          new Metadata(),
          options as CallOptions,
        ),
        1,
      ),
    );
    return responses.length > 0;
  }

  /**
   * One page of LookupResources, read from the stream as it arrives, and the cursor after its
   * last result when more follow. The next page continues the same SpiceDB stream when it is
   * asked of this instance soon (see lookup-pages.ts); memory stays one page whatever the size
   * of the whole result.
   */
  async lookupResources(
    args: {
      resourceType: string;
      permission: string;
      subject: ObjectId;
      limit: number;
      cursor?: string;
    },
    consistency: ReadConsistency,
  ): Promise<{ resourceIds: string[]; cursor?: string }> {
    const query = JSON.stringify([
      args.resourceType,
      args.permission,
      args.subject.type,
      args.subject.id,
      consistencyKey(consistency),
    ]);
    return this.call('LookupResources', 'read', (options) =>
      this.lookupPages.page(query, args.cursor, args.limit, (cursor) =>
        this.api.lookupResources(
          v1.LookupResourcesRequest.create({
            resourceObjectType: args.resourceType,
            permission: args.permission,
            subject: subjectReference(args.subject.type, args.subject.id),
            consistency: consistencyOf(consistency),
            // No limit: the page reader stops after `limit` and pauses the stream for the next page.
            ...(cursor ? { optionalCursor: v1.Cursor.create({ token: cursor }) } : {}),
          }),
          new Metadata(),
          options,
        ),
      ),
    );
  }

  async lookupSubjects(
    args: { resource: ObjectId; permission: string; subjectType: string },
    consistency: ReadConsistency,
  ): Promise<string[]> {
    const responses = await this.call('LookupSubjects', 'read', (options) =>
      this.collect(
        this.api.lookupSubjects(
          v1.LookupSubjectsRequest.create({
            resource: objectReference(args.resource.type, args.resource.id),
            permission: args.permission,
            subjectObjectType: args.subjectType,
            consistency: consistencyOf(consistency),
          }),
          new Metadata(),
          options as CallOptions,
        ),
      ),
    );
    return responses
      .filter(
        (r) =>
          r.subject?.permissionship === v1.LookupPermissionship.HAS_PERMISSION &&
          r.subject.subjectObjectId !== '*',
      )
      .map((r) => r.subject?.subjectObjectId ?? '')
      .sort();
  }

  async expand(resource: ObjectId, permission: string, consistency: ReadConsistency) {
    return this.call('ExpandPermissionTree', 'read', (options) =>
      this.api.expandPermissionTree(
        v1.ExpandPermissionTreeRequest.create({
          resource: objectReference(resource.type, resource.id),
          permission,
          consistency: consistencyOf(consistency),
        }),
        new Metadata(),
        options,
      ),
    );
  }

  async readSchema(timeoutMs = this.options.timeoutMs): Promise<string> {
    const response = await this.api.readSchema(v1.ReadSchemaRequest.create({}), new Metadata(), {
      deadline: new Date(Date.now() + timeoutMs),
    });
    return response.schemaText;
  }

  async writeSchema(schema: string): Promise<void> {
    await this.call('WriteSchema', 'write', (options) =>
      this.api.writeSchema(v1.WriteSchemaRequest.create({ schema }), new Metadata(), options),
    );
  }

  /** True while SpiceDB answers within a short deadline. */
  async ready(timeoutMs = 1_000): Promise<boolean> {
    try {
      await this.readSchema(timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    this.lookupPages.close();
    this.connection.close();
  }
}

export { relationshipFilter };
