/**
 * The open subscriptions of an instance, indexed so that a change looks only at those that can
 * match it: by subject (`type:id`), by `type#permission`, and counted per caller for its limit.
 */
import { permissionKeyOf, type Subscription } from './live-subscription.js';
import type { AffectedChecks } from './watch-scope.js';

export class SubscriptionIndex {
  private readonly all = new Set<Subscription>();
  private readonly bySubject = new Map<string, Set<Subscription>>();
  private readonly byPermission = new Map<string, Set<Subscription>>();
  private readonly perCaller = new Map<string, number>();

  get size(): number {
    return this.all.size;
  }

  [Symbol.iterator](): IterableIterator<Subscription> {
    return this.all.values();
  }

  openBy(callerId: string): number {
    return this.perCaller.get(callerId) ?? 0;
  }

  add(subscription: Subscription): void {
    this.all.add(subscription);
    this.perCaller.set(subscription.callerId, this.openBy(subscription.callerId) + 1);
    for (const check of subscription.checks) {
      addTo(this.bySubject, check.subjectKey, subscription);
      addTo(this.byPermission, permissionKeyOf(check), subscription);
    }
  }

  /** False when `subscription` was not (or no longer) open. */
  delete(subscription: Subscription): boolean {
    if (!this.all.delete(subscription)) return false;
    const left = (this.perCaller.get(subscription.callerId) ?? 1) - 1;
    if (left > 0) this.perCaller.set(subscription.callerId, left);
    else this.perCaller.delete(subscription.callerId);
    for (const check of subscription.checks) {
      removeFrom(this.bySubject, check.subjectKey, subscription);
      removeFrom(this.byPermission, permissionKeyOf(check), subscription);
    }
    return true;
  }

  /** The subscriptions holding a check that `affected` may cover (its subject's, else its permissions'). */
  candidates(affected: AffectedChecks): Set<Subscription> {
    const found = new Set<Subscription>();
    if (affected.subject !== undefined) {
      for (const s of this.bySubject.get(affected.subject) ?? []) found.add(s);
    } else {
      for (const permission of affected.permissions) {
        for (const s of this.byPermission.get(permission) ?? []) found.add(s);
      }
    }
    return found;
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
