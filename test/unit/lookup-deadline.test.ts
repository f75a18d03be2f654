import { EventEmitter } from 'node:events';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { LookupPages } from '../../src/spicedb/lookup-pages.js';
import { v1 } from '../../src/spicedb/proto.js';

/** A LookupResources stream of `count` results, sent as soon as it is read. */
function fakeStream(count: number, from = 0) {
  const stream = Object.assign(new EventEmitter(), {
    cancelled: false,
    pause: () => undefined,
    resume: () => undefined,
    cancel() {
      stream.cancelled = true;
    },
  });
  setImmediate(() => {
    for (let i = from; i < count; i += 1) {
      stream.emit(
        'data',
        v1.LookupResourcesResponse.create({
          resourceObjectId: `r${i}`,
          permissionship: v1.LookupPermissionship.HAS_PERMISSION,
          afterResultCursor: { token: `c${i}` },
        }),
      );
    }
    stream.emit('end');
  });
  return stream;
}

describe('parked lookup streams and their deadline', () => {
  it('continues a parked stream with time left, and never one past its deadline', async () => {
    let now = 0;
    const pages = new LookupPages({ parkMs: 10_000, minRemainingMs: 1_000, now: () => now });
    const opened: Array<ReturnType<typeof fakeStream>> = [];
    const open = (cursor: string | undefined) => {
      const stream = fakeStream(30, cursor ? Number(cursor.slice(1)) + 1 : 0);
      opened.push(stream);
      return stream as unknown as ClientReadableStream<v1.LookupResourcesResponse>;
    };
    const first = await pages.page('q', undefined, 10, open, 5_000);
    now = 2_000; // 3 s left: the parked stream serves the next page
    const second = await pages.page('q', first.cursor, 10, open, 7_000);
    expect(opened).toHaveLength(1);
    now = 4_500; // 0.5 s left of the stream opened with a deadline at 5 s: not handed out
    const third = await pages.page('q', second.cursor, 10, open, 9_500);
    expect(opened).toHaveLength(2);
    expect(opened[0]?.cancelled).toBe(true);
    expect([...first.resourceIds, ...second.resourceIds, ...third.resourceIds]).toEqual(
      Array.from({ length: 30 }, (_, i) => `r${i}`),
    );
    expect(third.cursor).toBeUndefined();
  });
});
