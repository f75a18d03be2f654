import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CheckCoalescer,
  checkKey,
  type BatchItemOutcome,
  type CheckItem,
} from '../../src/spicedb/batching.js';
import type { ReadConsistency } from '../../src/spicedb/consistency.js';

const item = (resourceId: string, permission = 'view', subjectId = 'alice'): CheckItem => ({
  resource: { type: 'project', id: resourceId },
  permission,
  subject: { type: 'user', id: subjectId },
});

const minimize: ReadConsistency = { kind: 'minimizeLatency' };
const fully: ReadConsistency = { kind: 'fullyConsistent' };
const fresh = (token: string): ReadConsistency => ({ kind: 'atLeastAsFresh', token });

interface SentBatch {
  items: CheckItem[];
  consistency: ReadConsistency;
  answer(outcomes?: BatchItemOutcome[]): void;
  fail(error: unknown): void;
}

/** A sender whose batches the test answers by hand; by default `allowed` = resource id ends in 'y'. */
function manualSender() {
  const sent: SentBatch[] = [];
  const send = (items: readonly CheckItem[], consistency: ReadConsistency) =>
    new Promise<BatchItemOutcome[]>((resolve, reject) => {
      sent.push({
        items: [...items],
        consistency,
        answer: (outcomes) =>
          resolve(
            outcomes ??
              items.map((i) => ({ allowed: i.resource.id.endsWith('y'), checkedAt: 'rev' })),
          ),
        fail: reject,
      });
    });
  return { sent, send };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * setTimeout is faked and its clock never moves unless a test advances it: a batch that
 * waited for a timer would not be sent by `turn()` (setImmediate stays real), and a window's
 * length is asserted on the fake clock, not measured on a loaded machine.
 */
describe('CheckCoalescer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends checks asked in one turn as one batch and answers each in order', async () => {
    const { sent, send } = manualSender();
    const coalescer = new CheckCoalescer(send);
    const answers = Promise.all(
      ['ay', 'bn', 'cy'].map((id) => coalescer.check(item(id), minimize)),
    );
    await turn();
    expect(sent).toHaveLength(1);
    expect(sent[0]?.items.map((i) => i.resource.id)).toEqual(['ay', 'bn', 'cy']);
    sent[0]?.answer();
    expect((await answers).map((a) => a.allowed)).toEqual([true, false, true]);
    expect(coalescer.counters).toMatchObject({ checksAsked: 3, batches: 1, checksSent: 3 });
  });

  it('sends a lone check after the current turn without waiting for a timer', async () => {
    const { sent, send } = manualSender();
    const coalescer = new CheckCoalescer(send);
    const answer = coalescer.check(item('ay'), minimize);
    expect(sent).toHaveLength(0);
    // No timer was set, and the fake clock has not moved: the turn alone sent it.
    expect(vi.getTimerCount()).toBe(0);
    await turn();
    expect(sent).toHaveLength(1);
    sent[0]?.answer();
    await expect(answer).resolves.toEqual({ allowed: true, checkedAt: 'rev' });
  });

  it('gives identical queued checks one answer and sends the check once', async () => {
    const { sent, send } = manualSender();
    const coalescer = new CheckCoalescer(send);
    const first = coalescer.check(item('ay'), minimize);
    const second = coalescer.check(item('ay'), minimize);
    const other = coalescer.check(item('ay', 'edit'), minimize);
    await turn();
    expect(sent[0]?.items).toHaveLength(2);
    sent[0]?.answer();
    expect(await first).toEqual(await second);
    await other;
    expect(coalescer.counters).toMatchObject({ checksAsked: 3, checksShared: 1, checksSent: 2 });
  });

  it('shares a check already in flight for minimizeLatency and the same token, never for fullyConsistent', async () => {
    const { sent, send } = manualSender();
    const coalescer = new CheckCoalescer(send);
    const firstMinimize = coalescer.check(item('ay'), minimize);
    const firstFresh = coalescer.check(item('ay'), fresh('t1'));
    const firstFully = coalescer.check(item('ay'), fully);
    await turn();
    expect(sent).toHaveLength(3);
    // Same checks again while the first ones are on their way.
    const laterMinimize = coalescer.check(item('ay'), minimize);
    const laterFresh = coalescer.check(item('ay'), fresh('t1'));
    const otherToken = coalescer.check(item('ay'), fresh('t2'));
    const laterFully = coalescer.check(item('ay'), fully);
    await turn();
    expect(sent).toHaveLength(5);
    expect(sent.slice(3).map((b) => b.consistency)).toEqual([fresh('t2'), fully]);
    for (const batch of sent) batch.answer();
    await Promise.all([firstMinimize, firstFresh, firstFully, laterMinimize, laterFresh]);
    await Promise.all([otherToken, laterFully]);
    expect(coalescer.counters.checksShared).toBe(2);
  });

  it('never mixes consistencies in one batch', async () => {
    const { sent, send } = manualSender();
    const coalescer = new CheckCoalescer(send);
    const all = [
      coalescer.check(item('a1'), minimize),
      coalescer.check(item('a2'), fully),
      coalescer.check(item('a3'), fresh('t1')),
      coalescer.check(item('a4'), minimize),
      coalescer.check(item('a5'), fresh('t2')),
      coalescer.check(item('a6'), fresh('t1')),
    ];
    await turn();
    const groups = sent.map((b) => [b.consistency, b.items.map((i) => i.resource.id)]);
    expect(groups).toEqual([
      [minimize, ['a1', 'a4']],
      [fully, ['a2']],
      [fresh('t1'), ['a3', 'a6']],
      [fresh('t2'), ['a5']],
    ]);
    for (const batch of sent) batch.answer();
    await Promise.all(all);
  });

  it('fails only the item whose outcome is an error, and a whole failure fails its batch only', async () => {
    const { sent, send } = manualSender();
    const coalescer = new CheckCoalescer(send);
    const good = coalescer.check(item('ay'), minimize);
    const bad = coalescer.check(item('by', 'nope'), minimize);
    const otherBatch = coalescer.check(item('cy'), fully);
    await turn();
    const itemError = new Error('unknown permission');
    sent[0]?.answer([{ allowed: true, checkedAt: 'r' }, { error: itemError }]);
    sent[1]?.fail(new Error('SpiceDB unavailable'));
    await expect(good).resolves.toEqual({ allowed: true, checkedAt: 'r' });
    await expect(bad).rejects.toBe(itemError);
    await expect(otherBatch).rejects.toThrow('SpiceDB unavailable');
    // A failed check is not cached: asking again sends it again.
    const again = coalescer.check(item('cy'), fully);
    await turn();
    expect(sent).toHaveLength(3);
    sent[2]?.answer();
    await expect(again).resolves.toMatchObject({ allowed: true });
  });

  it('splits at maxBatchSize and sends a full batch at once', async () => {
    const { sent, send } = manualSender();
    const sizes: number[] = [];
    const coalescer = new CheckCoalescer(send, { maxBatchSize: 3, onBatch: (n) => sizes.push(n) });
    const answers = Array.from({ length: 7 }, (_, i) => coalescer.check(item(`r${i}y`), minimize));
    // Two full batches left before the turn ended.
    expect(sent.map((b) => b.items.length)).toEqual([3, 3]);
    await turn();
    expect(sent.map((b) => b.items.length)).toEqual([3, 3, 1]);
    expect(sizes).toEqual([3, 3, 1]);
    for (const batch of sent) batch.answer();
    expect((await Promise.all(answers)).every((a) => a.allowed)).toBe(true);
    expect(coalescer.counters.largestBatch).toBe(3);
  });

  it('waits windowMs when asked to, collecting checks from later turns', async () => {
    const { sent, send } = manualSender();
    const coalescer = new CheckCoalescer(send, { windowMs: 15 });
    const first = coalescer.check(item('ay'), minimize);
    await turn();
    const second = coalescer.check(item('by'), minimize);
    await turn();
    expect(sent).toHaveLength(0);
    vi.advanceTimersByTime(14);
    expect(sent).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.items).toHaveLength(2);
    sent[0]?.answer();
    await Promise.all([first, second]);
  });

  it('keys checks so that ids holding separators stay distinct', () => {
    const a = checkKey({
      resource: { type: 'project', id: 'a#b' },
      permission: 'c',
      subject: { type: 'user', id: 'd' },
    });
    const b = checkKey({
      resource: { type: 'project', id: 'a' },
      permission: 'b#c',
      subject: { type: 'user', id: 'd' },
    });
    expect(a).not.toBe(b);
  });
});
