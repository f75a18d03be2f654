import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { WriteTokenTracker } from '../../src/spicedb/consistency.js';
import type { SpiceDbApi, SpiceDbConnection } from '../../src/spicedb/connection.js';
import { toTRPCError } from '../../src/trpc/spicedb-errors.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { v1 } from '../../src/spicedb/proto.js';

describe('WriteTokenTracker adopting a fully consistent read', () => {
  /** Two overlapping writes: the tracker cannot tell which token is newer. */
  function ambiguousTracker() {
    const tracker = new WriteTokenTracker();
    const first = tracker.beginWrite();
    const second = tracker.beginWrite();
    second('t2');
    first('t1');
    expect(tracker.defaultRead()).toEqual({ kind: 'fullyConsistent' });
    return tracker;
  }

  it('adopts the revision of a fully consistent read that overlapped no write', () => {
    const tracker = ambiguousTracker();
    const observe = tracker.beginRead({ kind: 'fullyConsistent' });
    observe('head');
    expect(tracker.defaultRead()).toEqual({ kind: 'atLeastAsFresh', token: 'head' });
  });

  it('ignores a read that a write started or finished during', () => {
    const tracker = ambiguousTracker();
    const observe = tracker.beginRead({ kind: 'fullyConsistent' });
    const write = tracker.beginWrite();
    write('not-applied');
    observe('maybe-before-the-write');
    expect(tracker.defaultRead()).toEqual({ kind: 'fullyConsistent' });
  });

  it('ignores a read begun while a write was in flight', () => {
    const tracker = ambiguousTracker();
    const write = tracker.beginWrite();
    const observe = tracker.beginRead({ kind: 'fullyConsistent' });
    write('unknown');
    observe('head');
    expect(tracker.defaultRead()).toEqual({ kind: 'fullyConsistent' });
  });

  it('ignores reads that were not fully consistent, and never replaces a known token', () => {
    const tracker = ambiguousTracker();
    tracker.beginRead({ kind: 'minimizeLatency' })('stale');
    tracker.beginRead({ kind: 'atLeastAsFresh', token: 't1' })('t1ish');
    expect(tracker.defaultRead()).toEqual({ kind: 'fullyConsistent' });

    const clear = new WriteTokenTracker();
    clear.beginWrite()('w1');
    clear.beginRead({ kind: 'fullyConsistent' })('head');
    expect(clear.defaultRead()).toEqual({ kind: 'atLeastAsFresh', token: 'w1' });
  });
});

/** A fake SpiceDB answering checks: allowed when the resource id starts with "yes". */
function fakeConnection(calls: string[]): SpiceDbConnection {
  const answer = (id: string) =>
    id.startsWith('yes')
      ? v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION
      : v1.CheckPermissionResponse_Permissionship.NO_PERMISSION;
  const invalid = (id: string) => id.includes('!');
  const api = {
    checkPermission: (request: v1.CheckPermissionRequest) => {
      calls.push('CheckPermission');
      const id = request.resource?.objectId ?? '';
      if (invalid(id)) {
        return Promise.reject(
          Object.assign(new Error('3 INVALID_ARGUMENT: bad id'), {
            code: status.INVALID_ARGUMENT,
            details: 'object_id: does not match regex pattern',
          }),
        );
      }
      return Promise.resolve(
        v1.CheckPermissionResponse.create({
          permissionship: answer(id),
          checkedAt: { token: 'rev' },
        }),
      );
    },
    checkBulkPermissions: (request: v1.CheckBulkPermissionsRequest) => {
      calls.push(`CheckBulkPermissions:${request.items.length}`);
      if (request.items.some((i) => invalid(i.resource?.objectId ?? ''))) {
        return Promise.reject(
          Object.assign(new Error('3 INVALID_ARGUMENT: validation error'), {
            code: status.INVALID_ARGUMENT,
            details: 'validation error: items[1].resource.object_id',
          }),
        );
      }
      return Promise.resolve(
        v1.CheckBulkPermissionsResponse.create({
          checkedAt: { token: 'rev' },
          pairs: request.items.map((item) =>
            item.permission === 'nope'
              ? {
                  request: item,
                  response: {
                    oneofKind: 'error' as const,
                    error: {
                      code: status.FAILED_PRECONDITION,
                      message: 'nope not found',
                      details: [],
                    },
                  },
                }
              : {
                  request: item,
                  response: {
                    oneofKind: 'item' as const,
                    item: v1.CheckBulkPermissionsResponseItem.create({
                      permissionship: answer(item.resource?.objectId ?? ''),
                    }),
                  },
                },
          ),
        }),
      );
    },
  } as unknown as SpiceDbApi;
  return { api, kind: 'remote', description: 'fake', close: () => {} };
}

const check = (id: string, permission = 'view') => ({
  resource: { type: 'project', id },
  permission,
  subject: { type: 'user', id: 'alice' },
});

describe('SpiceDbGateway.check coalescing', () => {
  it('asks one CheckBulkPermissions for checks of one turn and counts what it did', async () => {
    const calls: string[] = [];
    const batches: number[] = [];
    const gateway = new SpiceDbGateway(fakeConnection(calls), {
      timeoutMs: 1_000,
      onBatch: (size) => batches.push(size),
    });
    const minimize = { kind: 'minimizeLatency' } as const;
    const answers = await Promise.all(
      ['yes1', 'no1', 'yes1', 'yes2'].map((id) => gateway.check(check(id), minimize)),
    );
    expect(answers.map((a) => a.allowed)).toEqual([true, false, true, true]);
    expect(calls).toEqual(['CheckBulkPermissions:3']);
    expect(batches).toEqual([3]);
    expect(gateway.stats).toMatchObject({
      checksAsked: 4,
      checksShared: 1,
      batches: 1,
      checkCalls: 1,
    });
  });

  it('uses CheckPermission for a lone check', async () => {
    const calls: string[] = [];
    const gateway = new SpiceDbGateway(fakeConnection(calls), { timeoutMs: 1_000 });
    await expect(gateway.check(check('yes'), { kind: 'minimizeLatency' })).resolves.toEqual({
      allowed: true,
      checkedAt: 'rev',
    });
    expect(calls).toEqual(['CheckPermission']);
  });

  it("maps an item's error to its own caller only", async () => {
    const calls: string[] = [];
    const gateway = new SpiceDbGateway(fakeConnection(calls), { timeoutMs: 1_000 });
    const minimize = { kind: 'minimizeLatency' } as const;
    const [good, bad] = await Promise.allSettled([
      gateway.check(check('yes'), minimize),
      gateway.check(check('yes', 'nope'), minimize),
    ]);
    expect(good).toEqual({ status: 'fulfilled', value: { allowed: true, checkedAt: 'rev' } });
    expect(bad.status).toBe('rejected');
    const reason = bad.status === 'rejected' ? (bad.reason as unknown) : undefined;
    expect(toTRPCError(reason)).toMatchObject({ code: 'PRECONDITION_FAILED' });
  });

  it('isolates an invalid item that makes SpiceDB refuse the whole call by halving the batch', async () => {
    const calls: string[] = [];
    const gateway = new SpiceDbGateway(fakeConnection(calls), { timeoutMs: 1_000 });
    const minimize = { kind: 'minimizeLatency' } as const;
    const ids = ['yes1', 'no1', 'yes2', 'no2', 'bad!id', 'yes3', 'no3', 'yes4'];
    const settled = await Promise.allSettled(ids.map((id) => gateway.check(check(id), minimize)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value.allowed : 'failed'))).toEqual([
      true,
      false,
      true,
      false,
      'failed',
      true,
      false,
      true,
    ]);
    const reason = settled[4]?.status === 'rejected' ? (settled[4].reason as unknown) : undefined;
    expect(toTRPCError(reason)).toMatchObject({ code: 'BAD_REQUEST' });
    // 8 -> 4 + 4 -> (2 + 2) -> (1 + 1): the bad item costs a few calls, not one per neighbour.
    expect([...calls].sort()).toEqual(
      [
        'CheckBulkPermissions:8',
        'CheckBulkPermissions:4',
        'CheckBulkPermissions:4',
        'CheckBulkPermissions:2',
        'CheckBulkPermissions:2',
        'CheckBulkPermissions:1',
        'CheckBulkPermissions:1',
      ].sort(),
    );
  });

  it('sends one call per check when batching is off', async () => {
    const calls: string[] = [];
    const gateway = new SpiceDbGateway(fakeConnection(calls), {
      timeoutMs: 1_000,
      checkBatching: false,
    });
    const minimize = { kind: 'minimizeLatency' } as const;
    await Promise.all(['yes1', 'yes2'].map((id) => gateway.check(check(id), minimize)));
    expect(calls).toEqual(['CheckPermission', 'CheckPermission']);
    expect(gateway.stats).toMatchObject({ checksAsked: 2, checkCalls: 2, batches: 0 });
  });

  it('adopts the token of a fully consistent coalesced batch after overlapping writes', async () => {
    const calls: string[] = [];
    const gateway = new SpiceDbGateway(fakeConnection(calls), { timeoutMs: 1_000 });
    const a = gateway.tokens.beginWrite();
    const b = gateway.tokens.beginWrite();
    a('w1');
    b('w2');
    const consistency = gateway.consistency();
    expect(consistency).toEqual({ kind: 'fullyConsistent' });
    await Promise.all([
      gateway.check(check('yes'), consistency),
      gateway.check(check('no'), consistency),
    ]);
    expect(gateway.consistency()).toEqual({ kind: 'atLeastAsFresh', token: 'rev' });
  });
});
