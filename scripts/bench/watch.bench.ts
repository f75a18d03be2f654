/**
 * `npm run bench -- watch`: authz.watch at scale, through the real HTTP server (its own
 * process) over a real SpiceDB (`spicedb serve` on its memory datastore, or PostgreSQL).
 *
 *   BENCH_WATCH_SUBSCRIPTIONS=1000  open subscriptions (one caller each, two checks each)
 *   BENCH_WATCH_REVOKES=200         revokes (and as many re-grants) measured
 *   BENCH_WATCH_RECONNECTS=100      forced reconnects, half of the client's SSE stream, half of
 *                                   the service's SpiceDB Watch stream, a change during each
 *   BENCH_WATCH_DATASTORE=memory    memory | postgres
 *
 * Reports revoke-to-event p50/p99 (from sending the revoking mutation to the subscriber's
 * event), memory per open subscription (service heap after GC), missed events across the
 * reconnects, and the load average. Writes bench/results/watch.json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { createAuthzClient, type AuthzClient } from '../../src/client.js';
import { readSchemaFile } from '../../src/spicedb/connection.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { touch, type RelationshipTuple } from '../../src/spicedb/proto.js';
import { startSpiceDb } from '../../testkit/spicedb-process.js';

const SUBSCRIPTIONS = Number(process.env.BENCH_WATCH_SUBSCRIPTIONS ?? 1_000);
const REVOKES = Number(process.env.BENCH_WATCH_REVOKES ?? 200);
const RECONNECTS = Number(process.env.BENCH_WATCH_RECONNECTS ?? 100);
const DATASTORE = (process.env.BENCH_WATCH_DATASTORE ?? 'memory') as 'memory' | 'postgres';
const PROJECTS = 50;
const EVENT_TIMEOUT_MS = 15_000;
const SECRET = 'bench-watch-secret-0123456789abcdef';
const root = fileURLToPath(new URL('../..', import.meta.url));

const user = (i: number) => `w${i}`;
const project = (i: number) => `wp${i % PROJECTS}`;
const cluster = (i: number) => `wc${i % PROJECTS}`;

function token(sub: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(SECRET));
}

interface Service {
  child: ChildProcess;
  url: string;
  ask<T>(type: string, reply: string): Promise<T>;
}

async function startService(endpoint: string, spicedbToken: string): Promise<Service> {
  const child = fork(path.join(root, 'scripts/bench/watch-service.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: {
      ...process.env,
      BENCH_SPICEDB_ENDPOINT: endpoint,
      BENCH_SPICEDB_TOKEN: spicedbToken,
      BENCH_JWT_SECRET: SECRET,
    },
  });
  const ask = <T>(type: string, reply: string) =>
    new Promise<T>((resolve) => {
      const onMessage = (message: { type: string }) => {
        if (message.type !== reply) return;
        child.off('message', onMessage);
        resolve(message as T);
      };
      child.on('message', onMessage);
      if (type) child.send({ type });
    });
  const { port } = await ask<{ port: number }>('', 'ready');
  return { child, url: `http://127.0.0.1:${port}`, ask };
}

/** One subscriber: the latest answer per check and waiters for a given answer. */
class Subscriber {
  readonly answers = new Map<string, boolean>();
  lastEventId: string | undefined;
  events = 0;
  private waiters: Array<{ key: string; allowed: boolean; resolve: (at: number) => void }> = [];
  private subscription: { unsubscribe(): void } | undefined;

  constructor(
    readonly client: AuthzClient,
    readonly index: number,
  ) {}

  open(since?: string): Promise<void> {
    let opened!: () => void;
    const ready = new Promise<void>((resolve) => (opened = resolve));
    let initial = 0;
    this.subscription = this.client.authz.watch.subscribe(
      {
        checks: [
          { resource: `project:${project(this.index)}`, permission: 'read_settings' },
          { resource: `cluster:${cluster(this.index)}`, permission: 'ssh' },
        ],
        ...(since ? { since } : {}),
      },
      {
        onData: ({ id, data }) => {
          const at = performance.now();
          this.events += 1;
          this.lastEventId = id;
          const key = `${data.resource}#${data.permission}`;
          this.answers.set(key, data.allowed);
          if (++initial === 2) opened();
          this.waiters = this.waiters.filter((w) => {
            if (w.key !== key || w.allowed !== data.allowed) return true;
            w.resolve(at);
            return false;
          });
        },
        onError: (error) => console.error(`subscriber ${this.index}:`, error.message),
      },
    );
    return ready;
  }

  /** Resolves with the arrival time of the answer, or undefined after the timeout. */
  until(key: string, allowed: boolean): Promise<number | undefined> {
    if (this.answers.get(key) === allowed) return Promise.resolve(performance.now());
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), EVENT_TIMEOUT_MS);
      this.waiters.push({
        key,
        allowed,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      });
    });
  }

  close(): void {
    this.subscription?.unsubscribe();
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function main(): Promise<void> {
  const loadStart = os.loadavg();
  const schema = await readSchemaFile();
  const spicedb = await startSpiceDb({
    datastore: DATASTORE,
    schema,
    ...(DATASTORE === 'postgres' ? { databasePrefix: 'live_bench' } : {}),
  });
  const connection = spicedb.connect();
  const gateway = new SpiceDbGateway(connection, { timeoutMs: 30_000 });
  const tuples: RelationshipTuple[] = [];
  const rel = (rt: string, ri: string, r: string, st: string, si: string): RelationshipTuple => ({
    resourceType: rt,
    resourceId: ri,
    relation: r,
    subjectType: st,
    subjectId: si,
  });
  tuples.push(rel('organization', 'worg', 'owner', 'user', 'wadmin'));
  for (let p = 0; p < PROJECTS; p += 1) {
    tuples.push(rel('project', `wp${p}`, 'organization', 'organization', 'worg'));
    tuples.push(rel('organization', 'worg', 'project', 'project', `wp${p}`));
    tuples.push(rel('project', `wp${p}`, 'admin', 'user', 'wadmin'));
    tuples.push(rel('cluster', `wc${p}`, 'project', 'project', `wp${p}`));
  }
  for (let i = 0; i < SUBSCRIPTIONS; i += 1) {
    tuples.push(rel('project', project(i), 'member', 'user', user(i)));
  }
  for (let start = 0; start < tuples.length; start += 500) {
    await gateway.write(tuples.slice(start, start + 500).map(touch));
  }

  const service = await startService(spicedb.endpoint, spicedb.token);
  const admin = createAuthzClient({ url: service.url, getToken: () => token('wadmin') });
  type Stats = { heapUsed: number; rss: number; subscriptions: number };
  const before = await service.ask<Stats>('stats', 'stats');

  const subscribers: Subscriber[] = [];
  const openStarted = performance.now();
  for (let i = 0; i < SUBSCRIPTIONS; i += 50) {
    const batch: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(SUBSCRIPTIONS, i + 50); j += 1) {
      const subscriber = new Subscriber(
        createAuthzClient({ url: service.url, getToken: () => token(user(j)) }),
        j,
      );
      subscribers.push(subscriber);
      batch.push(subscriber.open());
    }
    await Promise.all(batch);
  }
  const openSeconds = (performance.now() - openStarted) / 1000;
  const during = await service.ask<Stats>('stats', 'stats');
  const heapPerSubscription = (during.heapUsed - before.heapUsed) / SUBSCRIPTIONS;
  const rssPerSubscription = (during.rss - before.rss) / SUBSCRIPTIONS;
  console.log(
    `${during.subscriptions} subscriptions open in ${openSeconds.toFixed(1)} s; service heap +${(heapPerSubscription / 1024).toFixed(1)} KiB, RSS +${(rssPerSubscription / 1024).toFixed(1)} KiB per subscription`,
  );

  // Revoke-to-event: remove a subscriber's role, time until its subscription says "no"; then
  // grant it back (timed too) so every subscription stays open and meaningful.
  const revokeLatencies: number[] = [];
  const grantLatencies: number[] = [];
  let missedRevokes = 0;
  const measureFlip = async (subscriber: Subscriber, allowed: boolean) => {
    const key = `project:${project(subscriber.index)}#read_settings`;
    const started = performance.now();
    const arrived = subscriber.until(key, allowed);
    const input = { projectId: project(subscriber.index), userId: user(subscriber.index) };
    if (allowed) await admin.project.addCollaborator.mutate(input);
    else await admin.project.removeCollaborator.mutate(input);
    const at = await arrived;
    if (at === undefined) missedRevokes += 1;
    else (allowed ? grantLatencies : revokeLatencies).push(at - started);
  };
  const CONCURRENCY = 4;
  const step = Math.max(1, Math.floor(SUBSCRIPTIONS / REVOKES));
  for (let r = 0; r < REVOKES; r += CONCURRENCY) {
    const round = Array.from(
      { length: Math.min(CONCURRENCY, REVOKES - r) },
      (_, k) => subscribers[((r + k) * step) % SUBSCRIPTIONS] as Subscriber,
    );
    await Promise.all(round.map((s) => measureFlip(s, false)));
    await Promise.all(round.map((s) => measureFlip(s, true)));
  }
  revokeLatencies.sort((a, b) => a - b);
  grantLatencies.sort((a, b) => a - b);

  // Forced reconnects, a change while each is down: the answer after it must be the new one.
  let missedAfterReconnect = 0;
  const probe = subscribers[0] as Subscriber;
  const probeKey = `cluster:${cluster(0)}#ssh`;
  for (let n = 0; n < RECONNECTS; n += 1) {
    const allowed = n % 2 === 1; // revoke, grant, revoke, ...
    const input = { projectId: project(0), userId: user(0) };
    if (n % 2 === 0) {
      probe.close();
      if (allowed) await admin.project.addCollaborator.mutate(input);
      else await admin.project.removeCollaborator.mutate(input);
      await probe.open(probe.lastEventId);
    } else {
      await service.ask('interrupt', 'interrupted');
      if (allowed) await admin.project.addCollaborator.mutate(input);
      else await admin.project.removeCollaborator.mutate(input);
    }
    if ((await probe.until(probeKey, allowed)) === undefined) missedAfterReconnect += 1;
  }

  const after = await service.ask<Stats & { watch: unknown; gateway: unknown }>('stats', 'stats');
  const loadEnd = os.loadavg();
  const results = {
    datastore: DATASTORE,
    subscriptions: SUBSCRIPTIONS,
    checksPerSubscription: 2,
    revokes: revokeLatencies.length,
    revokeToEventMs: {
      p50: percentile(revokeLatencies, 50),
      p99: percentile(revokeLatencies, 99),
      max: revokeLatencies.at(-1),
    },
    grantToEventMs: { p50: percentile(grantLatencies, 50), p99: percentile(grantLatencies, 99) },
    missedRevokeOrGrantEvents: missedRevokes,
    heapBytesPerSubscription: Math.round(heapPerSubscription),
    rssBytesPerSubscription: Math.round(rssPerSubscription),
    openSeconds,
    reconnects: RECONNECTS,
    missedAfterReconnect,
    service: after,
    loadAverage: { start: loadStart, end: loadEnd },
    cpus: os.cpus().length,
  };
  console.log(
    `revoke-to-event p50 ${results.revokeToEventMs.p50.toFixed(1)} ms, p99 ${results.revokeToEventMs.p99.toFixed(1)} ms (${results.revokes} revokes at ${SUBSCRIPTIONS} open subscriptions; grant p50 ${results.grantToEventMs.p50.toFixed(1)} ms, p99 ${results.grantToEventMs.p99.toFixed(1)} ms; ${missedRevokes} missed)`,
  );
  console.log(
    `${RECONNECTS} forced reconnects (half SSE, half SpiceDB Watch), a change during each: ${missedAfterReconnect} missed`,
  );
  console.log(
    `load average ${loadStart.map((l) => l.toFixed(2)).join(' ')} -> ${loadEnd.map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores`,
  );
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(
    path.join(root, 'bench/results/watch.json'),
    `${JSON.stringify(results, null, 2)}\n`,
  );

  for (const subscriber of subscribers) subscriber.close();
  const exited = new Promise((resolve) => service.child.once('exit', resolve));
  service.child.send({ type: 'close' });
  await exited;
  connection.close();
  await spicedb.stop();
  if (missedRevokes > 0 || missedAfterReconnect > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
