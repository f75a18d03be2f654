import { describe, expect, it } from 'vitest';
import { bulkCallPolicy } from '../../src/bulk/spicedb-bulk.js';
import {
  CallPolicy,
  serviceCallPolicy,
  type CallKind,
  type CallPolicyOptions,
} from '../../src/spicedb/call-policy.js';
import { GrpcStatus } from '../../src/spicedb/errors.js';

const grpcError = (code: GrpcStatus) =>
  Object.assign(new Error(`${code} ${GrpcStatus[code]}: injected`), { code, details: 'injected' });

/** A clock that only moves when the policy sleeps, and a record of every pause and deadline. */
function fakeClock(start = 1_000_000) {
  let now = start;
  const pauses: number[] = [];
  return {
    now: () => now,
    sleep: (ms: number) => {
      pauses.push(ms);
      now += ms;
      return Promise.resolve();
    },
    advance: (ms: number) => (now += ms),
    pauses,
  };
}

function policyWith(options: Partial<CallPolicyOptions>, clock = fakeClock()) {
  const policy = new CallPolicy({
    attemptTimeoutMs: 1_000,
    totalTimeoutMs: 1_000,
    maxAttempts: 3,
    baseDelayMs: 25,
    maxDelayMs: 400,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 1,
    ...options,
  });
  return { policy, clock };
}

/** An attempt function failing with `errors` in turn, then answering 'ok'; records deadlines. */
function scripted(errors: Error[]) {
  const deadlines: number[] = [];
  let attempts = 0;
  const attempt = (options: { deadline?: Date | number }) => {
    attempts += 1;
    deadlines.push(new Date(options.deadline ?? 0).getTime());
    const error = errors.shift();
    return error === undefined ? Promise.resolve('ok') : Promise.reject(error);
  };
  return { attempt, deadlines, attempts: () => attempts };
}

describe('which failures the call policy retries', () => {
  const cases: Array<[CallKind, GrpcStatus, boolean]> = [
    ['read', GrpcStatus.UNAVAILABLE, true],
    ['read', GrpcStatus.DEADLINE_EXCEEDED, true],
    ['read', GrpcStatus.ABORTED, true],
    ['read', GrpcStatus.INVALID_ARGUMENT, false],
    ['read', GrpcStatus.PERMISSION_DENIED, false],
    ['idempotent-write', GrpcStatus.UNAVAILABLE, true],
    ['idempotent-write', GrpcStatus.FAILED_PRECONDITION, false],
    // A write whose answer was lost may have applied: only a conflict that applied nothing retries.
    ['write', GrpcStatus.UNAVAILABLE, false],
    ['write', GrpcStatus.DEADLINE_EXCEEDED, false],
    ['write', GrpcStatus.ABORTED, true],
    ['write', GrpcStatus.ALREADY_EXISTS, false],
  ];
  it.each(cases)('%s failing with %s: retried=%s', async (kind, code, retried) => {
    const { policy } = policyWith({});
    const call = scripted([grpcError(code)]);
    const outcome = policy.run('Method', kind, call.attempt);
    if (retried) await expect(outcome).resolves.toBe('ok');
    else await expect(outcome).rejects.toMatchObject({ code });
    expect(call.attempts()).toBe(retried ? 2 : 1);
  });

  it('classifies the embedded server’s Go error strings like gRPC statuses', async () => {
    const { policy } = policyWith({});
    const call = scripted([new Error('rpc error: code = Unavailable desc = connection refused')]);
    await expect(policy.run('Method', 'read', call.attempt)).resolves.toBe('ok');
    expect(call.attempts()).toBe(2);
  });

  it('never retries an error that is not a gRPC status', async () => {
    const { policy } = policyWith({});
    const call = scripted([new TypeError('bug')]);
    await expect(policy.run('Method', 'read', call.attempt)).rejects.toBeInstanceOf(TypeError);
    expect(call.attempts()).toBe(1);
  });
});

describe('bounded exponential backoff with jitter', () => {
  it('doubles from the base up to the cap, and stops after maxAttempts', async () => {
    const { policy, clock } = policyWith({
      maxAttempts: 6,
      baseDelayMs: 100,
      maxDelayMs: 500,
      totalTimeoutMs: Infinity,
    });
    const call = scripted(Array.from({ length: 6 }, () => grpcError(GrpcStatus.UNAVAILABLE)));
    await expect(policy.run('Method', 'read', call.attempt)).rejects.toMatchObject({
      code: GrpcStatus.UNAVAILABLE,
    });
    expect(call.attempts()).toBe(6);
    expect(clock.pauses).toEqual([100, 200, 400, 500, 500]);
  });

  it('jitters each pause between half the ceiling and the ceiling', () => {
    const low = policyWith({ random: () => 0 }).policy;
    const high = policyWith({ random: () => 0.999999 }).policy;
    for (const attempt of [1, 2, 3, 4, 5, 6]) {
      const ceiling = Math.min(400, 25 * 2 ** (attempt - 1));
      expect(low.backoffMs(attempt)).toBe(ceiling / 2);
      expect(high.backoffMs(attempt)).toBeLessThanOrEqual(ceiling);
      expect(high.backoffMs(attempt)).toBeGreaterThan(ceiling * 0.99);
    }
  });
});

describe('deadlines', () => {
  it('gives every attempt of a service call the one overall deadline', async () => {
    const clock = fakeClock();
    const { policy } = policyWith({ attemptTimeoutMs: 1_000, totalTimeoutMs: 1_000 }, clock);
    const started = clock.now();
    const call = scripted([grpcError(GrpcStatus.UNAVAILABLE), grpcError(GrpcStatus.UNAVAILABLE)]);
    await expect(policy.run('Method', 'read', call.attempt)).resolves.toBe('ok');
    expect(call.deadlines).toEqual([started + 1_000, started + 1_000, started + 1_000]);
  });

  it('does not retry when the pause would end at the deadline', async () => {
    const clock = fakeClock();
    const { policy } = policyWith({ totalTimeoutMs: 100, attemptTimeoutMs: 100 }, clock);
    const call = scripted([grpcError(GrpcStatus.UNAVAILABLE)]);
    const running = policy.run('Method', 'read', async (options) => {
      clock.advance(80); // the attempt took most of the budget
      return call.attempt(options);
    });
    await expect(running).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
    expect(call.attempts()).toBe(1);
    expect(clock.pauses).toEqual([]);
  });

  it('gives each attempt of a bulk call its own deadline, bounded by attempts only', async () => {
    const clock = fakeClock();
    const policy = new CallPolicy({
      ...bulkCallPolicy({ callTimeoutMs: 60_000, maxAttempts: 3 }).options,
      now: clock.now,
      sleep: clock.sleep,
      random: () => 1,
    });
    const started = clock.now();
    const call = scripted([grpcError(GrpcStatus.DEADLINE_EXCEEDED)]);
    const running = policy.run('WriteRelationships', 'idempotent-write', async (options) => {
      clock.advance(60_000); // the first attempt used its whole deadline
      return call.attempt(options);
    });
    await expect(running).resolves.toBe('ok');
    expect(call.deadlines).toEqual([started + 60_000, started + 60_000 + 200 + 60_000]);
  });

  it('a per-call override shortens the deadline and the attempts (readiness probes)', async () => {
    const clock = fakeClock();
    const policy = serviceCallPolicy(10_000);
    const probing = new CallPolicy({ ...policy.options, now: clock.now, sleep: clock.sleep });
    const call = scripted([grpcError(GrpcStatus.UNAVAILABLE)]);
    await expect(
      probing.run('ReadSchema', 'read', call.attempt, { timeoutMs: 500, maxAttempts: 1 }),
    ).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
    expect(call.deadlines).toEqual([clock.now() + 500]);
  });
});

describe('observing attempts', () => {
  it('tells the observer of every attempt, and onRetry of each retried failure', async () => {
    const started: string[] = [];
    const finished: boolean[] = [];
    const retried: number[] = [];
    const { policy } = policyWith({
      observer: {
        attemptStarted: (method) => started.push(method),
        attemptFinished: (_method, _seconds, ok) => finished.push(ok),
      },
    });
    const call = scripted([grpcError(GrpcStatus.ABORTED)]);
    await policy.run('CheckPermission', 'read', call.attempt, {
      onRetry: (_error, attempt) => retried.push(attempt),
    });
    expect(started).toEqual(['CheckPermission', 'CheckPermission']);
    expect(finished).toEqual([false, true]);
    expect(retried).toEqual([1]);
  });
});
