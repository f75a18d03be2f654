import { Metadata } from '@grpc/grpc-js';
import type { CheckAnswer, CheckItem } from './batching.js';
import type { CallPolicy } from './call-policy.js';
import type { SpiceDbApi } from './connection.js';
import type { ReadConsistency, WriteTokenTracker } from './consistency.js';
import { GrpcStatus, grpcStatusOf } from './errors.js';
import { consistencyOf, objectReference, subjectReference, v1 } from './proto.js';
import { INVALID_REVISION } from './zedtoken.js';

export type CheckOutcome = { allowed: boolean } | { error: unknown };

/** Whole-call refusals that one bad item can cause: its neighbours are then asked one by one. */
const ITEM_ATTRIBUTABLE = [
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.OUT_OF_RANGE,
  GrpcStatus.NOT_FOUND,
];

/** An item's error inside a bulk answer, shaped like a gRPC error so it maps like one. */
function itemError(status: { code: number; message: string }): Error {
  const name = GrpcStatus[status.code] ?? String(status.code);
  return Object.assign(new Error(`${status.code} ${name}: ${status.message}`), {
    code: status.code,
    details: status.message,
  });
}

function checkRequest(item: CheckItem, consistency: ReadConsistency, withTracing = false) {
  return v1.CheckPermissionRequest.create({
    resource: objectReference(item.resource.type, item.resource.id),
    permission: item.permission,
    subject: subjectReference(item.subject.type, item.subject.id),
    consistency: consistencyOf(consistency),
    withTracing,
  });
}

/** CheckPermission and CheckBulkPermissions, each observed for the instance's read tokens. */
export class PermissionChecks {
  constructor(
    private readonly api: SpiceDbApi,
    private readonly policy: CallPolicy,
    private readonly tokens: WriteTokenTracker,
  ) {}

  async one(item: CheckItem, consistency: ReadConsistency): Promise<CheckAnswer> {
    const observe = this.tokens.beginRead(consistency);
    const response = await this.policy.run('CheckPermission', 'read', (options) =>
      this.api.checkPermission(checkRequest(item, consistency), new Metadata(), options),
    );
    const checkedAt = response.checkedAt?.token ?? '';
    observe(checkedAt);
    return {
      allowed: response.permissionship === v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION,
      checkedAt,
    };
  }

  withTrace(item: CheckItem, consistency: ReadConsistency) {
    return this.policy.run('CheckPermission', 'read', (options) =>
      this.api.checkPermission(checkRequest(item, consistency, true), new Metadata(), options),
    );
  }

  /**
   * One CheckBulkPermissions call; an item's error is its own, never its neighbours'. When
   * SpiceDB refuses the whole call for something one item can cause (an invalid id fails the
   * request's validation), the batch is halved and each half asked again, so the bad item is
   * isolated in a few calls and only it fails.
   */
  async bulk(
    items: readonly CheckItem[],
    consistency: ReadConsistency,
  ): Promise<{ results: CheckOutcome[]; checkedAt: string }> {
    if (items.length === 0) return { results: [], checkedAt: '' };
    try {
      return await this.bulkOnce(items, consistency);
    } catch (error) {
      const status = grpcStatusOf(error);
      if (status === undefined || !ITEM_ATTRIBUTABLE.includes(status.code)) throw error;
      // A revision SpiceDB refuses is the request's consistency, never one item's: halving
      // would only repeat the refusal (100 items, about 200 calls).
      if (INVALID_REVISION.test(status.message)) throw error;
      if (items.length === 1) return { results: [{ error }], checkedAt: '' };
      const middle = Math.ceil(items.length / 2);
      const [head, tail] = await Promise.all([
        this.bulk(items.slice(0, middle), consistency),
        this.bulk(items.slice(middle), consistency),
      ]);
      return {
        results: [...head.results, ...tail.results],
        checkedAt: head.checkedAt || tail.checkedAt,
      };
    }
  }

  private async bulkOnce(
    items: readonly CheckItem[],
    consistency: ReadConsistency,
  ): Promise<{ results: CheckOutcome[]; checkedAt: string }> {
    const observe = this.tokens.beginRead(consistency);
    const response = await this.policy.run('CheckBulkPermissions', 'read', (options) =>
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
      const answer = response.pairs[index]?.response;
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
}
