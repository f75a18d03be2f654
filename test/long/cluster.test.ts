/**
 * The service on a real SpiceDB cluster: 3 `spicedb serve` nodes on one PostgreSQL with dispatch
 * clustering between them, and a streaming replica of that PostgreSQL (1 s behind on purpose)
 * given to every node as its read replica. The service talks to all three nodes
 * (SPICEDB_ENDPOINT = the list) over its own HTTP server, under load, while one node is killed
 * and then another frozen; it is never restarted. A missing part fails the suite, never skips it.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSpiceDb, createServices } from '../../src/app.js';
import { matrixCells, SAMPLE, SAMPLE_SETUP, userOf } from '../../testkit/matrix.js';
import { createAuthzClient, type AuthzClient } from '../../src/client.js';
import { ServiceMetrics } from '../../src/observability/metrics.js';
import { createHttpServer } from '../../src/server.js';
import { readSchemaFile, type SpiceDbConnection } from '../../src/spicedb/connection.js';
import { appRouter } from '../../src/trpc/routers/_app.js';
import type { Services } from '../../src/trpc/context.js';
import { createCallerFactory } from '../../src/trpc/trpc.js';
import { testEnv, type TestApp } from '../support/app.js';
import { runSetupStep } from '../support/sample-org.js';
import { tokenFor } from '../../testkit/tokens.js';
import {
  requirePostgresBin,
  startOwnPostgres,
  type PostgresProcess,
} from '../../testkit/postgres-process.js';
import { requireSpiceDbBinary } from '../../testkit/spicedb-binary.js';
import { startSpiceDbCluster, type SpiceDbCluster } from '../../testkit/spicedb-cluster.js';
import { pick, seededRandom, suiteSeed } from '../../testkit/seeded-random.js';

const binary = requireSpiceDbBinary();
const pgBin = requirePostgresBin();

/** The service's deadline per SpiceDB call; with 3 nodes an attempt gets half of it. */
const TIMEOUT_MS = 2_000;
/** A request makes a few SpiceDB calls, each bounded; past this it hung. */
const REQUEST_BUDGET_MS = 3 * TIMEOUT_MS + 1_000;
/** The node pool's health probe: every 1,000 ms with a 500 ms deadline (src/spicedb/node-pool.ts). */
const PROBE_CYCLE_MS = 1_500;
const WORKERS = 6;
/**
 * The frozen phase is long on purpose: a SpiceDB node keeps dispatching to a frozen peer until
 * its dispatch name is resolved again without it, which grpc-go does at most every 30 s.
 */
const PHASE_MS = { baseline: 3_000, killed: 5_000, frozen: 40_000, recovery: 6_000 };
/** What the end of the frozen phase must be free of failures for (the cluster healed itself). */
const HEALED_MS = 5_000;

const NEW_ENEMY_ROUNDS = 150;
const CONTROL_ROUNDS = 40;
const RYW_ROUNDS = 30;
/** SpiceDB's default revision quantization window. */
const QUANTIZATION_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const codeOf = (error: unknown) =>
  ((error as { data?: { code?: string } }).data?.code ?? 'unknown') +
  (process.env.CLUSTER_DEBUG ? ` ${error instanceof Error ? error.message.slice(0, 90) : ''}` : '');

type CheckInput = Parameters<AuthzClient['authz']['check']['query']>[0];
/** A matrix cell as a check input (the cell's pair is valid by construction of the matrix). */
const checkOf = (cell: ReturnType<typeof matrixCells>[number]) =>
  ({
    resource: `${cell.resource.type}:${cell.resource.id}`,
    permission: cell.permission,
    subject: `user:${userOf(cell.persona)}`,
  }) as CheckInput;

interface Sample {
  kind: 'check' | 'write';
  start: number;
  end: number;
  ok: boolean;
  code?: string;
  wrongAllow?: boolean;
  wrongDeny?: boolean;
}

interface Instance {
  connection: SpiceDbConnection;
  services: Services;
  server: http.Server;
  url: string;
  metrics: ServiceMetrics;
}

describe('the service on a 3-node SpiceDB cluster with a PostgreSQL read replica', () => {
  let postgres: PostgresProcess;
  let replica: PostgresProcess;
  let cluster: SpiceDbCluster;
  let main: Instance;
  const figures: Record<string, unknown> = {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
  };

  async function startInstance(): Promise<Instance> {
    const env = testEnv({
      SPICEDB_ENDPOINT: cluster.endpoint,
      SPICEDB_TOKEN: cluster.token,
      SPICEDB_INSECURE: 'true',
      SPICEDB_TIMEOUT_MS: String(TIMEOUT_MS),
      RATE_LIMIT_PER_SECOND: '0',
    });
    const metrics = new ServiceMetrics({ processMetrics: false });
    const connection = await connectSpiceDb(env, { onNodeCall: metrics.observeSpiceDbNode });
    metrics.watchSpiceDbNodes(connection.nodes ?? (() => []));
    const services = createServices(env, connection);
    const server = createHttpServer(services, { webRoot: false, metrics });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { connection, services, server, url, metrics };
  }

  async function stopInstance(instance: Instance | undefined) {
    if (!instance) return;
    await new Promise<void>((resolve) => instance.server.close(() => resolve()));
    instance.services.spicedb.close();
  }

  const createCaller = createCallerFactory(appRouter);
  /** In-process callers on an instance's own services (its token tracker sees their writes). */
  function appOf(instance: Instance): TestApp {
    return {
      services: instance.services,
      connection: instance.connection,
      async as(userId, scope) {
        const token = await tokenFor(userId, scope ? { scope } : {});
        return createCaller({
          ...instance.services,
          authorization: `Bearer ${token}`,
          requestId: 'cluster',
        });
      },
      close: () => undefined,
    };
  }

  async function clientOf(instance: Instance, userId: string, scope?: string) {
    const token = await tokenFor(userId, scope ? { scope } : {});
    return createAuthzClient({ url: instance.url, getToken: () => token });
  }

  /** Every node running and answering, as each test expects to find the cluster. */
  async function allNodesUp() {
    for (const node of cluster.nodes) {
      node.thaw();
      await node.start();
    }
    await expect
      .poll(() => main.connection.nodes?.().every((n) => n.up), { timeout: 20_000 })
      .toBe(true);
  }

  beforeAll(async () => {
    postgres = await startOwnPostgres(pgBin);
    replica = await postgres.startReplica({ applyDelay: '1s' });
    cluster = await startSpiceDbCluster({
      nodes: 3,
      postgres,
      replica,
      database: 'spicedb_cluster',
      binary,
      schema: await readSchemaFile(),
      metrics: true,
      dispatchFollowsHealth: true,
    });
    main = await startInstance();
    const app = appOf(main);
    for (const step of SAMPLE_SETUP) await runSetupStep(app, step);
  }, 180_000);

  afterAll(async () => {
    await stopInstance(main);
    await cluster?.stop();
    replica?.stop();
    postgres?.stop();
    console.log(`[cluster] figures ${JSON.stringify(figures)}`);
  });

  it('dispatches among the three nodes and reads from the replica', async () => {
    const backend = await clientOf(main, 'cluster-backend', 'authz:check');
    const cells = matrixCells();
    for (const cell of cells) {
      const answer = await backend.authz.check.query(checkOf(cell));
      expect(answer.allowed, `${cell.persona} ${cell.resource.type}#${cell.permission}`).toBe(
        cell.expected,
      );
    }
    // Each node answered dispatched sub-problems of the others: the cluster is one.
    const dispatched = await Promise.all(
      cluster.nodes.map(async (node) => {
        const text = await (await fetch(node.metricsUrl as string)).text();
        return text
          .split('\n')
          .filter((l) => l.startsWith('grpc_server_handled_total') && l.includes('DispatchCheck'))
          .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
      }),
    );
    figures.dispatchChecksHandledPerNode = dispatched;
    expect(dispatched.filter((n) => n > 0).length).toBe(3);
    // SpiceDB keeps connections to the replica and reads through them.
    const replicaReads = Number(
      replica.psql(
        'postgres',
        "select xact_commit from pg_stat_database where datname = 'spicedb_cluster'",
      ),
    );
    figures.replicaTransactions = replicaReads;
    expect(replicaReads).toBeGreaterThan(0);
  });

  it('one node killed, then another frozen, under load: no wrong allow, no acknowledged write lost, recovery without a restart', async () => {
    await allNodesUp();
    const [killed, frozen] = cluster.nodes as [
      SpiceDbCluster['nodes'][number],
      SpiceDbCluster['nodes'][number],
    ];
    const backend = await clientOf(main, 'cluster-backend', 'authz:check');
    const owner = await clientOf(main, userOf('owner'));
    const cells = matrixCells();
    const random = seededRandom(suiteSeed('cluster', 13));
    const samples: Sample[] = [];
    const acknowledged: string[] = [];
    const readyz: Record<string, number> = {};
    const t0 = performance.now();
    const now = () => performance.now() - t0;
    const changesBefore = cluster.membershipChanges.length;
    let running = true;

    const checker = async () => {
      while (running) {
        const cell = pick(cells, random);
        const start = now();
        try {
          const { allowed } = await backend.authz.check.query(checkOf(cell));
          samples.push({
            kind: 'check',
            start,
            end: now(),
            ok: true,
            wrongAllow: allowed && !cell.expected,
            wrongDeny: !allowed && cell.expected,
          });
        } catch (error) {
          samples.push({ kind: 'check', start, end: now(), ok: false, code: codeOf(error) });
        }
      }
    };
    let written = 0;
    const writer = async () => {
      while (running) {
        const clusterId = `load_${(written += 1)}`;
        const start = now();
        try {
          await owner.cluster.create.mutate({ projectId: SAMPLE.projectId, clusterId });
          acknowledged.push(clusterId);
          samples.push({ kind: 'write', start, end: now(), ok: true });
        } catch (error) {
          samples.push({ kind: 'write', start, end: now(), ok: false, code: codeOf(error) });
        }
      }
    };
    const readyzNow = async (label: string) => {
      readyz[label] = (await fetch(`${main.url}/readyz`)).status;
    };

    const load = Promise.all([...Array.from({ length: WORKERS }, checker), writer()]);
    await sleep(PHASE_MS.baseline);
    const killedAt = now();
    await killed.kill();
    await sleep(PHASE_MS.killed);
    await readyzNow('oneKilled');
    const frozenAt = now();
    frozen.freeze();
    await sleep(PHASE_MS.frozen);
    await readyzNow('oneKilledOneFrozen');
    const recoveredAt = now();
    frozen.thaw();
    await killed.start();
    await sleep(PHASE_MS.recovery);
    await readyzNow('recovered');
    running = false;
    await load;
    figures.loadAverageAfterFaults = os.loadavg().map((l) => Number(l.toFixed(2)));

    const failedIn = (from: number, to: number) =>
      samples.filter((s) => !s.ok && s.start >= from && s.start < to);
    const summary = (list: Sample[]) =>
      list.reduce<Record<string, number>>((acc, s) => {
        acc[`${s.kind}:${s.code}`] = (acc[`${s.kind}:${s.code}`] ?? 0) + 1;
        return acc;
      }, {});
    // By when a call began: one begun within a deadline of a fault may meet it; after that none
    // should. The windows do not overlap.
    // A killed node is left out once a call to it fails or its next health probe does (every
    // PROBE_CYCLE_MS at most): a call begun within a deadline plus one probe cycle of the kill
    // may still meet it (seen once: a write begun 2.05 s after the kill).
    const killSettled = killedAt + TIMEOUT_MS + PROBE_CYCLE_MS;
    const baseline = failedIn(0, killedAt - TIMEOUT_MS);
    const killFirst = failedIn(killedAt - TIMEOUT_MS, killSettled);
    const killLater = failedIn(killSettled, frozenAt - TIMEOUT_MS);
    const freezeFirst = failedIn(frozenAt - TIMEOUT_MS, frozenAt + TIMEOUT_MS);
    const freezeLater = failedIn(frozenAt + TIMEOUT_MS, recoveredAt);
    const freezeEnd = failedIn(recoveredAt - HEALED_MS, recoveredAt);
    const recoveryLast = failedIn(recoveredAt + PHASE_MS.recovery / 2, Infinity);
    const slowest = Math.max(...samples.map((s) => s.end - s.start));
    const lastFreezeFailure = Math.max(frozenAt, ...freezeLater.map((s) => s.start));

    // What SpiceDB holds, fully consistent, against every write it acknowledged.
    const stored = new Set(
      (
        await main.services.spicedb.readRelationships(
          { resourceType: 'cluster', relation: 'project' },
          { kind: 'fullyConsistent' },
        )
      ).map((r) => r.resourceId),
    );
    const lost = acknowledged.filter((id) => !stored.has(id));

    const nodes = main.connection.nodes?.() ?? [];
    Object.assign(figures, {
      timeoutMs: TIMEOUT_MS,
      phasesMs: PHASE_MS,
      requests: samples.length,
      checks: samples.filter((s) => s.kind === 'check').length,
      writesAcknowledged: acknowledged.length,
      writesLost: lost.length,
      wrongAllows: samples.filter((s) => s.wrongAllow).length,
      wrongDenies: samples.filter((s) => s.wrongDeny).length,
      failedInBaseline: summary(baseline),
      failedWithinFirstDeadlineOfKill: summary(killFirst),
      failedAfterFirstDeadlineOfKill: summary(killLater),
      failedWithinFirstDeadlineOfFreeze: summary(freezeFirst),
      failedAfterFirstDeadlineOfFreeze: summary(freezeLater),
      lastFailureAfterFreezeMs: Math.round(lastFreezeFailure - frozenAt),
      failedInLastHalfOfRecovery: summary(recoveryLast),
      slowestRequestMs: Math.round(slowest),
      readyz,
      nodes,
      dispatchMembershipChangesMs: cluster.membershipChanges
        .slice(changesBefore)
        .map((c) => ({ atMs: Math.round(c.at - t0), members: c.members })),
      faultTimesMs: {
        killed: Math.round(killedAt),
        frozen: Math.round(frozenAt),
        recovered: Math.round(recoveredAt),
      },
    });
    console.log(`[cluster] faults ${JSON.stringify(figures)}`);

    expect(samples.filter((s) => s.wrongAllow)).toEqual([]);
    expect(samples.filter((s) => s.wrongDeny)).toEqual([]);
    expect(lost).toEqual([]);
    expect(slowest).toBeLessThan(REQUEST_BUDGET_MS);
    expect(baseline).toEqual([]);
    expect(killLater).toEqual([]);
    expect(recoveryLast).toEqual([]);
    expect(readyz).toEqual({ oneKilled: 200, oneKilledOneFrozen: 200, recovered: 200 });
    // The killed node is back in the rotation and serving calls, the service never restarted.
    expect(nodes.every((n) => n.up)).toBe(true);
    const text = await main.metrics.render();
    expect(text).toMatch(
      new RegExp(`authz_spicedb_node_calls_total\\{node="${killed.endpoint}",outcome="ok"\\} \\d+`),
    );
    // One node dead and one frozen: the last one serves every call once dispatch leaves the
    // frozen one out (see PHASE_MS); until then some calls fail, counted above.
    expect(freezeEnd).toEqual([]);
  });

  it('new enemy on the cluster: revoke then check through the service, no token, never a stale allow', async () => {
    await allNodesUp();
    const owner = await clientOf(main, 'ne-owner');
    const backend = await clientOf(main, 'ne-backend', 'authz:check');
    await owner.org.create.mutate({ orgId: 'cluster_ne' });
    await owner.project.create.mutate({ orgId: 'cluster_ne', projectId: 'cluster_ne_p' });
    const users = Array.from({ length: NEW_ENEMY_ROUNDS + CONTROL_ROUNDS }, (_, i) => `ne_${i}`);
    for (const userId of users) {
      await owner.project.addCollaborator.mutate({ projectId: 'cluster_ne_p', userId });
    }
    // Past the quantization window and the replica's delay: the grants are old news everywhere.
    await sleep(QUANTIZATION_MS + 1_500);
    const question = (userId: string) =>
      ({
        resource: 'project:cluster_ne_p',
        permission: 'read_settings',
        subject: `user:${userId}`,
      }) as const;
    let staleAllows = 0;
    for (const userId of users.slice(0, NEW_ENEMY_ROUNDS)) {
      await owner.project.removeCollaborator.mutate({ projectId: 'cluster_ne_p', userId });
      if ((await backend.authz.check.query(question(userId))).allowed) staleAllows += 1;
    }
    // Control: an instance that made no write reads at minimize_latency (quantized, served by
    // the lagging replica): it must show stale allows, or this test could catch none.
    const other = await startInstance();
    try {
      const otherBackend = await clientOf(other, 'ne-backend', 'authz:check');
      let controlStale = 0;
      for (const userId of users.slice(NEW_ENEMY_ROUNDS)) {
        await owner.project.removeCollaborator.mutate({ projectId: 'cluster_ne_p', userId });
        if ((await otherBackend.authz.check.query(question(userId))).allowed) controlStale += 1;
      }
      Object.assign(figures, {
        newEnemyRounds: NEW_ENEMY_ROUNDS,
        newEnemyStaleAllows: staleAllows,
        newEnemyControlStaleAllows: `${controlStale}/${CONTROL_ROUNDS}`,
      });
      expect(staleAllows).toBe(0);
      expect(controlStale).toBeGreaterThan(0);
    } finally {
      await stopInstance(other);
    }
  });

  it('read-your-writes across two service instances with the ZedToken, reads served by the replica', async () => {
    await allNodesUp();
    const reader = await startInstance();
    try {
      const writer = await clientOf(main, 'ryw-owner');
      const readerOwner = await clientOf(reader, 'ryw-owner');
      const readerBackend = await clientOf(reader, 'ryw-backend', 'authz:check');
      await writer.org.create.mutate({ orgId: 'cluster_ryw' });
      await sleep(QUANTIZATION_MS + 1_500);
      let staleWithoutToken = 0;
      const replicaBefore = Number(
        replica.psql(
          'postgres',
          "select xact_commit from pg_stat_database where datname = 'spicedb_cluster'",
        ),
      );
      for (let round = 0; round < RYW_ROUNDS; round += 1) {
        const userId = `ryw_${round}`;
        const { zedToken } = await writer.org.addMember.mutate({
          orgId: 'cluster_ryw',
          userId,
          role: 'member',
        });
        const question = {
          resource: 'organization:cluster_ryw',
          permission: 'read_settings',
          subject: `user:${userId}`,
        } as const;
        if (!(await readerBackend.authz.check.query(question)).allowed) staleWithoutToken += 1;
        const fresh = { atLeastAsFresh: zedToken };
        const checked = await readerBackend.authz.check.query({ ...question, consistency: fresh });
        expect(checked.allowed, `round ${round}: check with the token`).toBe(true);
        const { members } = await readerOwner.org.listMembers.query({
          orgId: 'cluster_ryw',
          consistency: fresh,
        });
        expect(members, `round ${round}: listMembers with the token`).toContainEqual({
          userId,
          role: 'member',
        });
      }
      const replicaAfter = Number(
        replica.psql(
          'postgres',
          "select xact_commit from pg_stat_database where datname = 'spicedb_cluster'",
        ),
      );
      Object.assign(figures, {
        readYourWritesRounds: RYW_ROUNDS,
        readYourWritesStaleWithToken: 0,
        readYourWritesStaleWithoutToken: `${staleWithoutToken}/${RYW_ROUNDS}`,
        replicaTransactionsDuringReadYourWrites: replicaAfter - replicaBefore,
      });
      expect(staleWithoutToken).toBeGreaterThan(0);
      expect(replicaAfter).toBeGreaterThan(replicaBefore);
    } finally {
      await stopInstance(reader);
    }
  });
});
