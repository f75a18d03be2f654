import {
  CheckCoalescer,
  type BatchItemOutcome,
  type CheckAnswer,
  type CheckItem,
  type CoalescerOptions,
  type ObjectId,
} from './batching.js';
import { serviceCallPolicy, type CallPolicy } from './call-policy.js';
import { PermissionChecks, type CheckOutcome } from './checks.js';
import type { SpiceDbConnection } from './connection.js';
import {
  type ReadConsistency,
  type RequestedConsistency,
  WriteTokenTracker,
} from './consistency.js';
import { relationshipFilter, type FilterSpec, type RelationshipTuple, type v1 } from './proto.js';
import { spiceDbReady } from './readiness.js';
import { RelationshipReads, type LookupResourcesArgs } from './reads.js';
import { SchemaCalls } from './schema-calls.js';
import { tracedCheck, type TracedCheck } from './trace.js';
import { writeRelationships } from './writes.js';

export type { CheckItem, ObjectId } from './batching.js';
export type { CheckOutcome } from './checks.js';
export type { TraceNode, TracedCheck, TraceResult } from './trace.js';

export interface GatewayOptions {
  /** The deadline of a whole call, retries included. */
  timeoutMs: number;
  /** The deadline of one attempt (default timeoutMs); shorter leaves time to retry elsewhere. */
  attemptTimeoutMs?: number;
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

/**
 * The service's SpiceDB, one object: the calls live in checks.ts, trace.ts, reads.ts, writes.ts
 * and schema-calls.ts, all under one call policy (call-policy.ts), with the instance's
 * read-your-writes tokens.
 */
export class SpiceDbGateway {
  readonly tokens = new WriteTokenTracker();
  readonly policy: CallPolicy;
  private readonly checks: PermissionChecks;
  private readonly reads: RelationshipReads;
  private readonly schema: SchemaCalls;
  private readonly coalescer: CheckCoalescer | undefined;
  private readonly callCounts: Record<string, number> = {};

  constructor(
    readonly connection: SpiceDbConnection,
    private readonly options: GatewayOptions,
  ) {
    const onCall = options.onCall;
    this.policy = serviceCallPolicy(
      options.timeoutMs,
      options.maxAttempts,
      {
        attemptStarted: (method) => {
          this.callCounts[method] = (this.callCounts[method] ?? 0) + 1;
        },
        ...(onCall ? { attemptFinished: onCall } : {}),
      },
      options.attemptTimeoutMs,
    );
    const api = connection.api;
    this.checks = new PermissionChecks(api, this.policy, this.tokens);
    this.reads = new RelationshipReads(api, this.policy, this.tokens, options.timeoutMs);
    this.schema = new SchemaCalls(api, this.policy);
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
      lookupStreams: this.reads.lookupPages.streamsOpened,
      lookupStreamsParked: this.reads.lookupPages.parkedCount,
    };
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  consistency(requested?: RequestedConsistency): ReadConsistency {
    return this.tokens.resolve(requested);
  }

  /**
   * One check. Checks arriving together are coalesced into CheckBulkPermissions calls (see
   * batching.ts); the answer, and any error, is the same as a CheckPermission of its own.
   */
  check(item: CheckItem, consistency: ReadConsistency): Promise<CheckAnswer> {
    if (this.coalescer) return this.coalescer.check(item, consistency);
    return this.checks.one(item, consistency);
  }

  /** A coalesced batch: one item is one CheckPermission, more are one CheckBulkPermissions. */
  private async sendChecks(
    items: readonly CheckItem[],
    consistency: ReadConsistency,
  ): Promise<BatchItemOutcome[]> {
    if (items.length === 1 && items[0] !== undefined) {
      return [await this.checks.one(items[0], consistency)];
    }
    const { results, checkedAt } = await this.checks.bulk(items, consistency);
    return results.map((r) => ('allowed' in r ? { allowed: r.allowed, checkedAt } : r));
  }

  /** CheckPermission with SpiceDB's debug trace, as plain data (trace.ts); never coalesced. */
  checkWithTrace(item: CheckItem, consistency: ReadConsistency): Promise<TracedCheck> {
    return tracedCheck(this.connection.api, this.policy, this.tokens, item, consistency);
  }

  checkBulk(
    items: readonly CheckItem[],
    consistency: ReadConsistency,
  ): Promise<{ results: CheckOutcome[]; checkedAt: string }> {
    return this.checks.bulk(items, consistency);
  }

  write(updates: v1.RelationshipUpdate[], preconditions: v1.Precondition[] = []): Promise<string> {
    return writeRelationships(
      this.connection.api,
      this.policy,
      this.tokens,
      updates,
      preconditions,
    );
  }

  readRelationships(
    filter: FilterSpec,
    consistency: ReadConsistency,
  ): Promise<RelationshipTuple[]> {
    return this.reads.relationships(filter, consistency);
  }

  exists(filter: FilterSpec, consistency: ReadConsistency): Promise<boolean> {
    return this.reads.exists(filter, consistency);
  }

  lookupResources(
    args: LookupResourcesArgs,
    consistency: ReadConsistency,
  ): Promise<{ resourceIds: string[]; cursor?: string }> {
    return this.reads.lookupResources(args, consistency);
  }

  lookupSubjects(
    args: { resource: ObjectId; permission: string; subjectType: string },
    consistency: ReadConsistency,
  ): Promise<string[]> {
    return this.reads.lookupSubjects(args, consistency);
  }

  readSchema(timeoutMs = this.options.timeoutMs): Promise<string> {
    return this.schema.read(timeoutMs);
  }

  writeSchema(schema: string): Promise<void> {
    return this.schema.write(schema);
  }

  diffSchema(schema: string): Promise<v1.ReflectionSchemaDiff[]> {
    return this.schema.diff(schema);
  }

  reflectSchema(): Promise<v1.ReflectSchemaResponse> {
    return this.schema.reflect();
  }

  /** True while SpiceDB answers within a short deadline. */
  ready(timeoutMs = 1_000): Promise<boolean> {
    return spiceDbReady(this.schema, timeoutMs);
  }

  close(): void {
    this.reads.lookupPages.close();
    this.connection.close();
  }
}

export { relationshipFilter };
