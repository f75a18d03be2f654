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

function itemAttributable(error: unknown): boolean {
  const status = grpcStatusOf(error);
  return status !== undefined && ITEM_ATTRIBUTABLE.includes(status.code);
}

/** One item cannot sit in both halves: a refusal both share word for word is the request's. */
function sameRefusal(a: unknown, b: unknown): boolean {
  const [left, right] = [grpcStatusOf(a), grpcStatusOf(b)];
  return left !== undefined && right?.code === left.code && right.message === left.message;
}

/**
 * SpiceDB calls a whole-batch refusal of `n` checks may cost at most, the refused call
 * included: enough to isolate two bad items by halving (2 calls a level), never 2n-1.
 */
export function refusalCallBudget(n: number): number {
  return 1 + 4 * Math.ceil(Math.log2(Math.max(2, n)));
}

function checkRequest(item: CheckItem, consistency: ReadConsistency) {
  return v1.CheckPermissionRequest.create({
    resource: objectReference(item.resource.type, item.resource.id),
    permission: item.permission,
    subject: subjectReference(item.subject.type, item.subject.id),
    consistency: consistencyOf(consistency),
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

  /**
   * One CheckBulkPermissions call; an item's error is its own, never its neighbours'. When
   * SpiceDB refuses the whole call for something one item can cause (an invalid id fails the
   * request's validation), the batch is halved and the refused halves asked again, so a bad item
   * is isolated in about 2·log2(n) calls and only it fails. The number of calls is bounded:
   * a refusal both halves share word for word is the request's own (a consistency token, say),
   * not an item's, and ends the search at 3 calls; and no refusal costs more than
   * `refusalCallBudget(n)` calls, after which the items still unresolved share their group's
   * refusal (instead of halving on to 2n-1 calls).
   */
  async bulk(
    items: readonly CheckItem[],
    consistency: ReadConsistency,
  ): Promise<{ results: CheckOutcome[]; checkedAt: string }> {
    if (items.length === 0) return { results: [], checkedAt: '' };
    try {
      return await this.bulkOnce(items, consistency);
    } catch (error) {
      if (!itemAttributable(error)) throw error;
      // A revision SpiceDB refuses is the request's consistency, never one item's: halving
      // would only repeat the refusal (100 items, about 200 calls).
      if (INVALID_REVISION.test(grpcStatusOf(error)?.message ?? '')) throw error;
      const budget = { calls: refusalCallBudget(items.length) - 1 };
      return this.isolate(items, consistency, error, budget);
    }
  }

  /** Answers `items`, refused together with `refusal`, by asking halves within `budget`. */
  private async isolate(
    items: readonly CheckItem[],
    consistency: ReadConsistency,
    refusal: unknown,
    budget: { calls: number },
  ): Promise<{ results: CheckOutcome[]; checkedAt: string }> {
    if (items.length === 1 || budget.calls < 2) {
      return { results: items.map(() => ({ error: refusal })), checkedAt: '' };
    }
    budget.calls -= 2;
    const middle = Math.ceil(items.length / 2);
    const halves = [items.slice(0, middle), items.slice(middle)];
    const answers = await Promise.all(
      halves.map((half) =>
        this.bulkOnce(half, consistency).then(
          (answer) => ({ answer }),
          (error: unknown) => {
            if (!itemAttributable(error)) throw error;
            return { refusal: error };
          },
        ),
      ),
    );
    const [head, tail] = answers as [(typeof answers)[number], (typeof answers)[number]];
    if ('refusal' in head && 'refusal' in tail && sameRefusal(head.refusal, tail.refusal)) {
      return { results: items.map(() => ({ error: head.refusal })), checkedAt: '' };
    }
    const resolved = await Promise.all(
      answers.map(async (outcome, index) =>
        'answer' in outcome
          ? outcome.answer
          : this.isolate(halves[index] ?? [], consistency, outcome.refusal, budget),
      ),
    );
    return {
      results: resolved.flatMap((r) => r.results),
      checkedAt: resolved.find((r) => r.checkedAt)?.checkedAt ?? '',
    };
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
