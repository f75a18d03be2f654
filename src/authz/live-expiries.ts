/**
 * The expiries `authz.watch` must act on. SpiceDB writes nothing when a relationship expires,
 * so each expiring relationship learnt (from a Watch event, or read when a subscription opens)
 * is scheduled twice: just after its expiry, and once more in case clocks disagree a little.
 * A delete, or a write without expiration, unschedules it.
 */
import type { RelationshipChange } from '../spicedb/watch.js';
import { ExpirySchedule } from './expiry-schedule.js';
import { keyOf } from './live-subscription.js';

/** Re-checks after an expiry: just after it, and once more in case clocks disagree a little. */
const EXPIRY_RECHECK_DELAYS_MS = [100, 1_100];
const LAST_DELAY_MS = EXPIRY_RECHECK_DELAYS_MS[EXPIRY_RECHECK_DELAYS_MS.length - 1] ?? 0;

export class RelationshipExpiries {
  private readonly schedule: ExpirySchedule<RelationshipChange>;

  /** `onExpired` gets the relationships whose (delayed) expiry has come. */
  constructor(onExpired: (changes: RelationshipChange[]) => void) {
    this.schedule = new ExpirySchedule((due) => onExpired(due.map((d) => d.value)));
  }

  get size(): number {
    return this.schedule.size;
  }

  learn(change: RelationshipChange): void {
    const key = relationshipKey(change);
    if (change.operation === 'delete' || change.expiresAt === undefined) {
      for (const delay of EXPIRY_RECHECK_DELAYS_MS) this.schedule.delete(`${key}+${delay}`);
      return;
    }
    const at = change.expiresAt.getTime();
    if (at + LAST_DELAY_MS < Date.now()) return;
    for (const delay of EXPIRY_RECHECK_DELAYS_MS)
      this.schedule.add(`${key}+${delay}`, at + delay, change);
  }

  close(): void {
    this.schedule.close();
  }
}

function relationshipKey(change: RelationshipChange): string {
  const subject = `${keyOf(change.subject)}${change.subject.relation ? `#${change.subject.relation}` : ''}`;
  return `${keyOf(change.resource)}#${change.relation}@${subject}`;
}
