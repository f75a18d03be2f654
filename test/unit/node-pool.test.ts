import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { NodePool, type NodeTransport } from '../../src/spicedb/node-pool.js';

/** Nodes that are just their address; `serving` says what each one's health probe answers. */
function fakePool(addresses: string[]) {
  const serving = new Map(addresses.map((a) => [a, true]));
  const closed: string[] = [];
  const observed: Array<[string, boolean]> = [];
  const pool = new NodePool<string>(
    (address): NodeTransport<string> => ({
      client: () => address,
      probe: () => Promise.resolve(serving.get(address) ?? false),
      close: () => closed.push(address),
    }),
    { onNodeCall: (address, ok) => observed.push([address, ok]) },
  );
  pool.setAddresses(addresses);
  const picks = (n: number) => Array.from({ length: n }, () => pool.pick().address);
  return { pool, serving, closed, observed, picks };
}

const failure = (code: number) => Object.assign(new Error(`code ${code}`), { code });

describe('NodePool', () => {
  it('spreads calls round robin over the nodes', () => {
    const { picks } = fakePool(['a:1', 'b:1', 'c:1']);
    expect(picks(6)).toEqual(['a:1', 'b:1', 'c:1', 'a:1', 'b:1', 'c:1']);
  });

  it('leaves out a node whose call failed as unreachable, so a retry goes elsewhere', () => {
    const { pool, picks } = fakePool(['a:1', 'b:1', 'c:1']);
    const first = pool.pick();
    pool.finished(first, failure(status.UNAVAILABLE));
    expect(picks(4)).toEqual(['b:1', 'c:1', 'b:1', 'c:1']);
    expect(pool.statuses().map((n) => n.up)).toEqual([false, true, true]);
  });

  it('a call past its deadline makes its node suspect and probes it: left out only if the probe fails', async () => {
    const { pool, serving, picks } = fakePool(['a:1', 'b:1', 'c:1']);
    serving.set('a:1', false);
    pool.finished(pool.pick(), failure(status.DEADLINE_EXCEEDED)); // a: frozen
    pool.finished(pool.pick(), failure(status.DEADLINE_EXCEEDED)); // b: slow, but answers
    expect(picks(2)).toEqual(['c:1', 'c:1']);
    await pool.probeAll();
    expect(pool.statuses().map((n) => n.up)).toEqual([false, true, true]);
    expect(picks(4)).toEqual(['b:1', 'c:1', 'b:1', 'c:1']);
  });

  it('keeps a node whose call failed for a reason of the request, and does not count cancels', () => {
    const { pool, observed } = fakePool(['a:1', 'b:1']);
    const node = pool.pick();
    pool.finished(node, failure(status.INVALID_ARGUMENT));
    pool.finished(node, failure(status.CANCELLED));
    pool.finished(node);
    expect(pool.statuses()[0]).toEqual({ address: 'a:1', up: true, calls: 3, errors: 1 });
    expect(observed).toEqual([
      ['a:1', false],
      ['a:1', true],
    ]);
  });

  it('when no node answers, still tries them in turn rather than refusing', () => {
    const { pool, picks } = fakePool(['a:1', 'b:1']);
    for (const node of [pool.pick(), pool.pick()]) pool.finished(node, failure(status.UNAVAILABLE));
    expect(pool.anyUp()).toBe(false);
    expect(new Set(picks(4))).toEqual(new Set(['a:1', 'b:1']));
  });

  it('health probes take a frozen node out and let it back once it answers', async () => {
    const { pool, serving, picks } = fakePool(['a:1', 'b:1']);
    serving.set('b:1', false);
    await pool.probeAll();
    expect(picks(3)).toEqual(['a:1', 'a:1', 'a:1']);
    serving.set('b:1', true);
    await pool.probeAll();
    expect(new Set(picks(2))).toEqual(new Set(['a:1', 'b:1']));
  });

  it('follows a new address list: keeps the counts of nodes still listed, closes the others', () => {
    const { pool, closed } = fakePool(['a:1', 'b:1']);
    pool.finished(pool.pick());
    pool.setAddresses(['a:1', 'c:1']);
    expect(closed).toEqual(['b:1']);
    expect(pool.statuses()).toEqual([
      { address: 'a:1', up: true, calls: 1, errors: 0 },
      { address: 'c:1', up: true, calls: 0, errors: 0 },
    ]);
    pool.close();
    expect(closed).toEqual(['b:1', 'a:1', 'c:1']);
    expect(() => pool.pick()).toThrow('no SpiceDB node');
  });
});
