import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExpirySchedule } from '../../src/authz/expiry-schedule.js';

describe('the expiry schedule', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires each entry once at its time, earliest first, with one timer', async () => {
    vi.useFakeTimers({ now: 0 });
    const fired: string[][] = [];
    const schedule = new ExpirySchedule<string>((due) => fired.push(due.map((d) => d.value)));
    schedule.add('b', 2_000, 'b');
    schedule.add('a', 1_000, 'a');
    schedule.add('c', 1_000, 'c');
    schedule.add('moved', 1_000, 'moved');
    schedule.add('moved', 3_000, 'moved');
    schedule.add('gone', 1_500, 'gone');
    schedule.delete('gone');
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toEqual([['a', 'c']]);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(fired).toEqual([['a', 'c'], ['b'], ['moved']]);
    expect(schedule.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('waits out expiries beyond the longest timer delay', async () => {
    vi.useFakeTimers({ now: 0 });
    const fired: string[] = [];
    const schedule = new ExpirySchedule<string>((due) => fired.push(...due.map((d) => d.value)));
    const farAway = 40 * 24 * 3_600_000; // 40 days: past setTimeout's 24.8-day limit
    schedule.add('far', farAway, 'far');
    await vi.advanceTimersByTimeAsync(farAway - 1);
    expect(fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toEqual(['far']);
    schedule.close();
  });
});
