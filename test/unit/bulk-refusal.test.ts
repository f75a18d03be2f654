import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CallPolicy } from '../../src/spicedb/call-policy.js';
import { PermissionChecks, refusalCallBudget } from '../../src/spicedb/checks.js';
import type { SpiceDbApi } from '../../src/spicedb/connection.js';
import { WriteTokenTracker } from '../../src/spicedb/consistency.js';
import { v1 } from '../../src/spicedb/proto.js';

const refusal = (message: string) =>
  Object.assign(new Error(`3 INVALID_ARGUMENT: ${message}`), {
    code: GrpcStatus.INVALID_ARGUMENT,
    details: message,
  });

/** A CheckBulkPermissions that refuses any call holding a `bad*` id, or every call. */
function fakeApi(mode: 'bad-items' | 'whole-request') {
  const calls: number[] = [];
  const api = {
    checkBulkPermissions: (request: v1.CheckBulkPermissionsRequest) => {
      calls.push(request.items.length);
      if (mode === 'whole-request')
        return Promise.reject(refusal('object definition `nowhere` not found'));
      const bad = request.items.find((i) => i.resource?.objectId.startsWith('bad'));
      if (bad) return Promise.reject(refusal(`invalid object id ${bad.resource?.objectId ?? ''}`));
      return Promise.resolve(
        v1.CheckBulkPermissionsResponse.create({
          checkedAt: { token: 'zed' },
          pairs: request.items.map(() => ({
            response: {
              oneofKind: 'item' as const,
              item: {
                permissionship: v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION,
              },
            },
          })),
        }),
      );
    },
  } as unknown as SpiceDbApi;
  const policy = new CallPolicy({
    attemptTimeoutMs: 1_000,
    totalTimeoutMs: 1_000,
    maxAttempts: 1,
    baseDelayMs: 1,
    maxDelayMs: 1,
  });
  return { checks: new PermissionChecks(api, policy, new WriteTokenTracker()), calls };
}

const items = (n: number, bad: number[] = []) =>
  Array.from({ length: n }, (_, i) => ({
    resource: { type: 'project', id: bad.includes(i) ? `bad${i}` : `p${i}` },
    permission: 'read_settings',
    subject: { type: 'user', id: `u${i}` },
  }));

describe('a whole-batch refusal costs a bounded number of SpiceDB calls', () => {
  it.each([1, 2, 7, 64, 1_000])('isolates one bad item among %i within the budget', async (n) => {
    const { checks, calls } = fakeApi('bad-items');
    const badIndex = Math.floor(n / 3);
    const { results } = await checks.bulk(items(n, [badIndex]), { kind: 'minimizeLatency' });
    expect(results.map((r) => 'error' in r)).toEqual(items(n).map((_, i) => i === badIndex));
    expect(calls.length).toBeLessThanOrEqual(refusalCallBudget(n));
  });

  it('gives every item the refusal after 3 calls when the request itself is refused', async () => {
    const { checks, calls } = fakeApi('whole-request');
    const { results } = await checks.bulk(items(1_000), { kind: 'minimizeLatency' });
    expect(results.every((r) => 'error' in r)).toBe(true);
    expect(calls).toHaveLength(3);
  });

  it('stays within the budget when every item is bad (halving would make 2n-1 calls)', async () => {
    const n = 256;
    const { checks, calls } = fakeApi('bad-items');
    const all = Array.from({ length: n }, (_, i) => i);
    const { results } = await checks.bulk(items(n, all), { kind: 'minimizeLatency' });
    expect(results.every((r) => 'error' in r)).toBe(true);
    expect(calls.length).toBeLessThanOrEqual(refusalCallBudget(n));
    expect(refusalCallBudget(n)).toBeLessThan(2 * n - 1);
  });

  it('still answers the good items of a batch with two bad ones', async () => {
    const { checks, calls } = fakeApi('bad-items');
    const { results } = await checks.bulk(items(100, [3, 80]), { kind: 'minimizeLatency' });
    expect(results.filter((r) => 'error' in r)).toHaveLength(2);
    expect(calls.length).toBeLessThanOrEqual(refusalCallBudget(100));
  });
});
