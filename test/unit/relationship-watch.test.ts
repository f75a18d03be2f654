import { EventEmitter } from 'node:events';
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { v1 } from '../../src/spicedb/proto.js';
import { RelationshipWatch, type WatchEvent } from '../../src/spicedb/watch.js';

/** A Watch call as grpc-js returns it: events, and cancel(). */
class FakeStream extends EventEmitter {
  cancelled = false;
  constructor(readonly request: v1.WatchRequest) {
    super();
  }
  cancel() {
    this.cancelled = true;
  }
  send(token: string, resourceId?: string) {
    const updates = resourceId
      ? [
          v1.RelationshipUpdate.create({
            operation: v1.RelationshipUpdate_Operation.TOUCH,
            relationship: v1.Relationship.create({
              resource: v1.ObjectReference.create({ objectType: 'project', objectId: resourceId }),
              relation: 'member',
              subject: v1.SubjectReference.create({
                object: v1.ObjectReference.create({ objectType: 'user', objectId: 'alice' }),
              }),
              optionalExpiresAt: { seconds: '1800000000', nanos: 5_000_000 },
            }),
          }),
        ]
      : [];
    this.emit(
      'data',
      v1.WatchResponse.create({
        updates,
        changesThrough: v1.ZedToken.create({ token }),
        isCheckpoint: updates.length === 0,
      }),
    );
  }
  fail(code: number) {
    this.emit('error', Object.assign(new Error(`code ${code}`), { code, details: 'x' }));
  }
}

function fakeApi() {
  const streams: FakeStream[] = [];
  return {
    streams,
    api: {
      watch: (request: v1.WatchRequest) => {
        const stream = new FakeStream(request);
        streams.push(stream);
        return stream as never;
      },
    },
  };
}

const cursorOf = (stream: FakeStream | undefined) => stream?.request.optionalStartCursor?.token;

describe('the shared Watch stream', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts at the probed head and reports changes in domain terms', async () => {
    const { api, streams } = fakeApi();
    const watch = new RelationshipWatch(api);
    const events: WatchEvent[] = [];
    watch.listen((event) => events.push(event));
    await watch.ensureRunning(() => Promise.resolve('head-1'));
    await watch.ensureRunning(() => Promise.reject(new Error('not asked again')));
    expect(streams).toHaveLength(1);
    expect(cursorOf(streams[0])).toBe('head-1');
    expect(streams[0]?.request.optionalUpdateKinds).toContain(v1.WatchKind.INCLUDE_CHECKPOINTS);
    streams[0]?.send('t2', 'p1');
    streams[0]?.send('t3'); // a checkpoint moves the position, tells nobody
    expect(watch.position).toBe('t3');
    expect(events).toEqual([
      {
        kind: 'changes',
        batch: expect.objectContaining({
          token: 't2',
          changes: [
            {
              operation: 'touch',
              resource: { type: 'project', id: 'p1' },
              relation: 'member',
              subject: { type: 'user', id: 'alice' },
              expiresAt: new Date(1_800_000_000_005),
            },
          ],
        }) as unknown,
      },
    ]);
    watch.close();
  });

  it('reconnects from the last token with growing, bounded pauses', async () => {
    vi.useFakeTimers();
    const { api, streams } = fakeApi();
    const reasons: string[] = [];
    const watch = new RelationshipWatch(api, {
      minBackoffMs: 100,
      maxBackoffMs: 400,
      onReconnect: (reason) => reasons.push(reason),
    });
    watch.listen(() => undefined);
    await watch.ensureRunning(() => Promise.resolve('head-1'));
    streams[0]?.send('t2', 'p1');
    streams[0]?.fail(status.UNAVAILABLE);
    await vi.advanceTimersByTimeAsync(100);
    expect(cursorOf(streams[1])).toBe('t2');
    streams[1]?.fail(status.UNAVAILABLE);
    await vi.advanceTimersByTimeAsync(99); // the second pause is 100-200 ms
    expect(streams).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(101);
    expect(cursorOf(streams[2])).toBe('t2');
    for (let n = 0; n < 5; n += 1) {
      streams.at(-1)?.fail(status.UNAVAILABLE);
      await vi.advanceTimersByTimeAsync(400); // never longer than the cap
    }
    expect(streams).toHaveLength(8);
    expect(reasons[0]).toBe('UNAVAILABLE');
    expect(watch.counters.reconnects).toBe(7);
    watch.close();
  });

  it('restarts at the head and asks for a resync when SpiceDB refuses the cursor', async () => {
    vi.useFakeTimers();
    const { api, streams } = fakeApi();
    const watch = new RelationshipWatch(api, { minBackoffMs: 10 });
    const events: WatchEvent[] = [];
    watch.listen((event) => events.push(event));
    let probes = 0;
    await watch.ensureRunning(() => Promise.resolve(`head-${++probes}`));
    streams[0]?.fail(status.FAILED_PRECONDITION);
    await vi.advanceTimersByTimeAsync(20);
    expect(cursorOf(streams[1])).toBe('head-2');
    expect(events).toEqual([{ kind: 'resync' }]);
    watch.close();
  });

  it('closes the stream a while after its last listener left', async () => {
    vi.useFakeTimers();
    const { api, streams } = fakeApi();
    const watch = new RelationshipWatch(api, { lingerMs: 1_000 });
    const leave = watch.listen(() => undefined);
    await watch.ensureRunning(() => Promise.resolve('head-1'));
    leave();
    await vi.advanceTimersByTimeAsync(999);
    expect(streams[0]?.cancelled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(streams[0]?.cancelled).toBe(true);
    expect(watch.position).toBeUndefined();
  });
});
