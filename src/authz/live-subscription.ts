/**
 * One subscriber of `authz.watch`: the checks it asked for, the last answer of each, and the
 * answers waiting for it to read. LiveAccess (live-access.ts) decides what to re-check; this
 * only holds and hands over.
 */
import type { CheckItem, ObjectId } from '../spicedb/batching.js';

export interface LiveEvent {
  resource: string;
  permission: string;
  subject: string;
  allowed: boolean;
  checkedAt: string;
}

export interface LiveCheck {
  item: CheckItem;
  subjectKey: string;
  label: { resource: string; permission: string; subject: string };
  allowed?: boolean;
}

export const keyOf = (ref: ObjectId) => `${ref.type}:${ref.id}`;

/** `type#permission`: the key of the checks a change to that permission may affect. */
export const permissionKeyOf = (check: LiveCheck) =>
  `${check.item.resource.type}#${check.item.permission}`;

export class Subscription {
  readonly checks: LiveCheck[];
  readonly pending = new Map<number, LiveEvent>();
  readonly dirty = new Set<number>();
  /** When the oldest change behind `dirty` reached this instance (for the lag metric). */
  dirtySince: number | undefined;
  ready = false;
  rechecking = false;
  failure: Error | undefined;
  ended = false;
  private wake: (() => void) | undefined;

  /** The checks of `items`, each once. */
  constructor(
    readonly callerId: string,
    items: CheckItem[],
  ) {
    this.checks = dedupe(items).map(liveCheck);
  }

  push(index: number, event: LiveEvent): void {
    // A slow reader gets the newest answer of each check, not every flip in between.
    this.pending.delete(index);
    this.pending.set(index, event);
    this.notify();
  }

  /** Records the answer of check `index` and queues its event. */
  answer(index: number, answer: { allowed: boolean; checkedAt: string }): void {
    const check = this.checks[index] as LiveCheck;
    check.allowed = answer.allowed;
    this.push(index, { ...check.label, allowed: answer.allowed, checkedAt: answer.checkedAt });
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  waitForNews(signal: AbortSignal | undefined): Promise<void> {
    if (this.pending.size > 0 || this.ended || this.failure !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.wake = done;
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

function liveCheck(item: CheckItem): LiveCheck {
  return {
    item,
    subjectKey: keyOf(item.subject),
    label: {
      resource: keyOf(item.resource),
      permission: item.permission,
      subject: keyOf(item.subject),
    },
  };
}

function dedupe(items: CheckItem[]): CheckItem[] {
  const seen = new Map<string, CheckItem>();
  for (const item of items) {
    seen.set(JSON.stringify([keyOf(item.resource), item.permission, keyOf(item.subject)]), item);
  }
  return [...seen.values()];
}
