import type { AuthzClient, AuthzInputs } from '../../src/client.js';
import type { LiveEvent } from '../../src/authz/live-access.js';

export type ReceivedEvent = LiveEvent & { id: string };

/** An open authz.watch subscription of the typed client, with its events recorded. */
export interface WatchRecorder {
  events: ReceivedEvent[];
  /** Resolves with the first event (from `from` on) that satisfies `match`. */
  next(match: (event: ReceivedEvent) => boolean, from?: number): Promise<ReceivedEvent>;
  /** Resolves with the subscription's error (a refusal ends it). */
  failure(): Promise<unknown>;
  close(): void;
}

export function recordWatch(
  client: AuthzClient,
  input: AuthzInputs['authz']['watch'],
): WatchRecorder {
  const events: ReceivedEvent[] = [];
  let error: unknown;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };
  const subscription = client.authz.watch.subscribe(input, {
    onData: ({ id, data }) => {
      events.push({ ...data, id });
      wake();
    },
    onError: (cause) => {
      error = cause;
      wake();
    },
  });
  const wait = <T>(probe: () => T | undefined, failOnError: boolean): Promise<T> =>
    new Promise((resolve, reject) => {
      const attempt = () => {
        const found = probe();
        if (found === undefined && !(failOnError && error !== undefined)) return;
        waiters.delete(attempt);
        if (found !== undefined) resolve(found);
        else reject(error instanceof Error ? error : new Error(String(error)));
      };
      waiters.add(attempt);
      attempt();
    });
  return {
    events,
    next: (match, from = 0) => wait(() => events.slice(from).find(match), true),
    failure: () => wait(() => error, false),
    close: () => subscription.unsubscribe(),
  };
}

/** Matches an event of `resource#permission` with the given answer. */
export const answer =
  (resource: string, permission: string, allowed: boolean) => (event: ReceivedEvent) =>
    event.resource === resource && event.permission === permission && event.allowed === allowed;
