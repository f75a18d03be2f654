import { Metadata, type CallOptions } from '@grpc/grpc-js';
import { consistencyKey, type ObjectId } from './batching.js';
import type { CallPolicy } from './call-policy.js';
import type { SpiceDbApi } from './connection.js';
import type { ReadConsistency, WriteTokenTracker } from './consistency.js';
import { LookupPages, type LookupPage } from './lookup-pages.js';
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
import { collectStream } from './streams.js';

export interface LookupResourcesArgs {
  resourceType: string;
  permission: string;
  subject: ObjectId;
  limit: number;
  cursor?: string;
}

/** ReadRelationships, LookupResources and LookupSubjects. */
export class RelationshipReads {
  readonly lookupPages: LookupPages;

  constructor(
    private readonly api: SpiceDbApi,
    private readonly policy: CallPolicy,
    private readonly tokens: WriteTokenTracker,
    timeoutMs: number,
  ) {
    // A paused lookup stream lives no longer than a call may take.
    this.lookupPages = new LookupPages({ parkMs: Math.min(10_000, timeoutMs) });
  }

  async relationships(
    filter: FilterSpec,
    consistency: ReadConsistency,
  ): Promise<RelationshipTuple[]> {
    const observe = this.tokens.beginRead(consistency);
    const responses = await this.read(filter, consistency);
    // An empty answer carries no revision; one with rows says where it read.
    observe(responses[0]?.readAt?.token ?? '');
    return responses.flatMap((r) => (r.relationship ? [tupleOf(r.relationship)] : []));
  }

  async exists(filter: FilterSpec, consistency: ReadConsistency): Promise<boolean> {
    return (await this.read(filter, consistency, 1)).length > 0;
  }

  private read(filter: FilterSpec, consistency: ReadConsistency, limit?: number) {
    return this.policy.run('ReadRelationships', 'read', (options) =>
      collectStream(
        this.api.readRelationships(
          v1.ReadRelationshipsRequest.create({
            relationshipFilter: relationshipFilter(filter),
            consistency: consistencyOf(consistency),
            ...(limit !== undefined ? { optionalLimit: limit } : {}),
          }),
          new Metadata(),
          options as CallOptions,
        ),
        limit,
      ),
    );
  }

  /**
   * One page of LookupResources, read from the stream as it arrives, and the cursor after its
   * last result when more follow. The next page continues the same SpiceDB stream when it is
   * asked of this instance soon (see lookup-pages.ts); memory stays one page whatever the size
   * of the whole result.
   */
  lookupResources(args: LookupResourcesArgs, consistency: ReadConsistency): Promise<LookupPage> {
    const query = JSON.stringify([
      args.resourceType,
      args.permission,
      args.subject.type,
      args.subject.id,
      consistencyKey(consistency),
    ]);
    return this.policy.run('LookupResources', 'read', (options) =>
      this.lookupPages.page(
        query,
        args.cursor,
        args.limit,
        (cursor) =>
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
        deadlineOf(options.deadline),
      ),
    );
  }

  async lookupSubjects(
    args: { resource: ObjectId; permission: string; subjectType: string },
    consistency: ReadConsistency,
  ): Promise<string[]> {
    const responses = await this.policy.run('LookupSubjects', 'read', (options) =>
      collectStream(
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
}

/** A gRPC call option's deadline as epoch milliseconds (none: Infinity). */
function deadlineOf(deadline: Date | number | undefined): number {
  if (deadline instanceof Date) return deadline.getTime();
  return typeof deadline === 'number' ? deadline : Infinity;
}
