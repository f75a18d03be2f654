/**
 * Timers for relationships that expire by themselves. SpiceDB stops counting an expired
 * relationship without writing anything, so the Watch stream says nothing at that moment:
 * whoever learned the expiry (from a Watch event or a read) schedules it here, and one timer,
 * armed for the earliest due time, fires them.
 */
export interface ScheduledExpiry<T> {
  key: string;
  at: number;
  value: T;
}

/** setTimeout's longest delay; later expiries re-arm when it fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class ExpirySchedule<T> {
  private readonly entries = new Map<string, ScheduledExpiry<T>>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;

  constructor(
    private readonly fire: (due: Array<ScheduledExpiry<T>>) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Schedules (or moves) `key` to fire at `at` (epoch ms). */
  add(key: string, at: number, value: T): void {
    this.entries.set(key, { key, at, value });
    if (at < this.armedFor) this.arm();
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    let earliest = Infinity;
    for (const entry of this.entries.values()) earliest = Math.min(earliest, entry.at);
    this.armedFor = earliest;
    if (earliest === Infinity) return;
    const delay = Math.min(MAX_DELAY_MS, Math.max(0, earliest - this.now()));
    this.timer = setTimeout(() => this.run(), delay);
    this.timer.unref();
  }

  private run(): void {
    const now = this.now();
    const due: Array<ScheduledExpiry<T>> = [];
    for (const entry of this.entries.values()) {
      if (entry.at <= now) due.push(entry);
    }
    for (const entry of due) this.entries.delete(entry.key);
    this.armedFor = Infinity;
    this.arm();
    if (due.length > 0) this.fire(due.sort((a, b) => a.at - b.at));
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.entries.clear();
    this.armedFor = Infinity;
  }
}
