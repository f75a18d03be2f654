import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/app.js';
import { createHttpServer } from '../../src/server.js';
import { connectRemote, readSchemaFile } from '../../src/spicedb/connection.js';
import type { FilterSpec } from '../../src/spicedb/proto.js';
import type { Services } from '../../src/trpc/context.js';
import { testEnv } from '../support/app.js';
import { tokenFor } from '../../testkit/tokens.js';
import {
  requirePostgresBin,
  startOwnPostgres,
  type PostgresProcess,
} from '../../testkit/postgres-process.js';
import { requireSpiceDbBinary } from '../../testkit/spicedb-binary.js';
import { startSpiceDb, type SpiceDbProcess } from '../../testkit/spicedb-process.js';

/**
 * Fault injection against real processes: `spicedb serve` on a PostgreSQL instance of this
 * suite's own, both killed, frozen and restarted while the service is under load. The service
 * itself is never restarted.
 */
const TIMEOUT_MS = 500;
/** A request may make a few SpiceDB calls; each has the deadline, and the machine is shared. */
const REQUEST_BUDGET_MS = TIMEOUT_MS * 2 + 500;

// A missing part fails the suite (never a skip).
const spicedbBinary = requireSpiceDbBinary();
const postgresBin = requirePostgresBin();

interface Sample {
  kind: 'check' | 'write';
  start: number;
  end: number;
  status: number;
  code: string;
  allowed?: boolean;
  projectId?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('faults: SpiceDB and PostgreSQL killed under load', () => {
  let postgres: PostgresProcess;
  let spicedb: SpiceDbProcess;
  let services: Services;
  let server: http.Server;
  let base: string;
  let ownerToken: string;
  let backendToken: string;
  const figures: Record<string, unknown> = {};
  let writeCounter = 0;
  let firstInternalError: string | undefined;

  beforeAll(async () => {
    postgres = await startOwnPostgres(postgresBin);
    postgres.psql('postgres', 'CREATE DATABASE spicedb_faults');
    const uri = postgres.connUri('spicedb_faults');
    spicedb = await startSpiceDb({
      datastore: 'postgres',
      binary: spicedbBinary,
      datastoreUri: uri,
    });
    const connection = connectRemote({
      endpoint: spicedb.endpoint,
      token: spicedb.token,
      insecure: true,
    });
    services = createServices(testEnv({ SPICEDB_TIMEOUT_MS: String(TIMEOUT_MS) }), connection);
    // The first schema write on a fresh PostgreSQL datastore may take longer than the deadline.
    const setup = createServices(testEnv(), connection);
    await setup.spicedb.writeSchema(await readSchemaFile());
    server = createHttpServer(services);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    ownerToken = await tokenFor('f-owner');
    backendToken = await tokenFor('f-backend', { scope: 'authz:check' });
    await post('org.create', { orgId: 'f' }, ownerToken, true);
    await post('project.create', { orgId: 'f', projectId: 'fp' }, ownerToken, true);
    await post('project.addCollaborator', { projectId: 'fp', userId: 'f-user' }, ownerToken, true);
    expect((await check()).allowed).toBe(true);
  }, 180_000);

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    services?.spicedb.close();
    await spicedb?.stop();
    postgres?.stop();
    console.log(`[faults] figures: ${JSON.stringify(figures, null, 1)}`);
    if (firstInternalError)
      console.log(`[faults] first INTERNAL_SERVER_ERROR: ${firstInternalError}`);
  });

  async function post(path: string, input: unknown, token: string, mustSucceed = false) {
    const response = await fetch(`${base}/trpc/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(input),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await response.json()) as {
      result?: { data?: { zedToken?: string } };
      error?: { data?: { code?: string } };
    };
    if (mustSucceed && response.status !== 200) {
      throw new Error(`${path} failed: ${response.status} ${JSON.stringify(body)}`);
    }
    return { status: response.status, code: body.error?.data?.code ?? 'ok', body };
  }

  async function check(): Promise<{ status: number; code: string; allowed?: boolean }> {
    const input = encodeURIComponent(
      JSON.stringify({
        resource: 'project:fp',
        permission: 'read_settings',
        subject: 'user:f-user',
      }),
    );
    const response = await fetch(`${base}/trpc/authz.check?input=${input}`, {
      headers: { authorization: `Bearer ${backendToken}` },
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await response.json()) as {
      result?: { data?: { allowed?: boolean } };
      error?: { message?: string; data?: { code?: string } };
    };
    const allowed = body.result?.data?.allowed;
    if (body.error?.data?.code === 'INTERNAL_SERVER_ERROR') {
      firstInternalError ??= JSON.stringify(body.error);
    }
    return {
      status: response.status,
      code: body.error?.data?.code ?? 'ok',
      ...(allowed !== undefined ? { allowed } : {}),
    };
  }

  /** A request the HTTP layer itself failed (no response): recorded, never thrown. */
  async function transportSafe<T extends { status: number; code: string }>(
    run: () => Promise<T>,
  ): Promise<T | { status: 0; code: string }> {
    try {
      return await run();
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return { status: 0, code: `TRANSPORT:${cause?.code ?? cause?.message ?? String(error)}` };
    }
  }

  /** Checks and writes from `workers` loops until `stop` is set; every request is recorded. */
  function startLoad(workers: number) {
    const samples: Sample[] = [];
    const state = { stop: false };
    const loops = Array.from({ length: workers }, async (_, worker) => {
      while (!state.stop) {
        const start = performance.now();
        if (worker % 2 === 0) {
          const result = await transportSafe(check);
          samples.push({ kind: 'check', start, end: performance.now(), ...result });
        } else {
          // project.create is three relationships in one write: a half-applied one would show.
          const projectId = `f-w-${(writeCounter += 1)}`;
          const result = await transportSafe(() =>
            post('project.create', { orgId: 'f', projectId }, ownerToken),
          );
          samples.push({
            kind: 'write',
            start,
            end: performance.now(),
            status: result.status,
            code: result.code,
            projectId,
          });
        }
        await sleep(5);
      }
    });
    return {
      samples,
      stop: async () => {
        state.stop = true;
        await Promise.all(loops);
      },
    };
  }

  const readyStatus = async () =>
    (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(30_000) })).status;

  /** Waits until checks succeed again; returns how long that took. */
  async function waitForRecovery(from: number, limitMs = 60_000): Promise<number> {
    while (performance.now() - from < limitMs) {
      const result = await transportSafe(check);
      if (result.code === 'ok') return performance.now() - from;
      await sleep(50);
    }
    throw new Error(`the service did not recover within ${limitMs} ms`);
  }

  async function present(spec: FilterSpec): Promise<boolean> {
    const rels = await services.spicedb.readRelationships(spec, { kind: 'fullyConsistent' });
    return rels.length > 0;
  }

  /**
   * Every acknowledged project.create is there in full (its project#organization, the inverse
   * organization#project and the creator's project#admin: one write); every other one is there
   * in full or not at all. Returns the counts.
   */
  async function auditWrites(samples: Sample[]) {
    let acknowledged = 0;
    let lost = 0;
    let halfApplied = 0;
    let unacknowledgedApplied = 0;
    for (const sample of samples.filter((s) => s.kind === 'write')) {
      const projectId = sample.projectId as string;
      const parts = [
        await present({
          resourceType: 'project',
          resourceId: projectId,
          relation: 'organization',
          subjectType: 'organization',
          subjectId: 'f',
        }),
        await present({
          resourceType: 'organization',
          resourceId: 'f',
          relation: 'project',
          subjectType: 'project',
          subjectId: projectId,
        }),
        await present({
          resourceType: 'project',
          resourceId: projectId,
          relation: 'admin',
          subjectType: 'user',
          subjectId: 'f-owner',
        }),
      ];
      const all = parts.every(Boolean);
      const none = !parts.some(Boolean);
      if (!all && !none) halfApplied += 1;
      if (sample.code === 'ok') {
        acknowledged += 1;
        if (!all) lost += 1;
      } else if (all) {
        unacknowledgedApplied += 1;
      }
    }
    return { acknowledged, lost, halfApplied, unacknowledgedApplied };
  }

  const tally = (samples: Sample[]) => {
    const counts: Record<string, number> = {};
    for (const s of samples)
      counts[`${s.kind}:${s.code}`] = (counts[`${s.kind}:${s.code}`] ?? 0) + 1;
    return counts;
  };

  it('SpiceDB killed under load: SERVICE_UNAVAILABLE within the deadline, never an allow, then recovery', async () => {
    const load = startLoad(6);
    await sleep(2_000);
    const killedAt = performance.now();
    await spicedb.kill();
    const downFrom = performance.now();
    await sleep(1_000);
    const readyWhileDown = await readyStatus();
    await sleep(2_000);
    const restartAt = performance.now();
    await spicedb.restart();
    const recoveryMs = await waitForRecovery(restartAt);
    await sleep(2_000);
    const tailFrom = performance.now();
    await sleep(2_000);
    await load.stop();
    const readyAfter = await readyStatus();

    const duringOutage = load.samples.filter((s) => s.start >= downFrom && s.end <= restartAt);
    const longest = Math.max(...duringOutage.map((s) => s.end - s.start));
    const afterRecovery = load.samples.filter((s) => s.start >= tailFrom);
    const writes = await auditWrites(load.samples);
    figures.spicedbKill = {
      requests: load.samples.length,
      duringOutage: duringOutage.length,
      outageOutcomes: tally(duringOutage),
      longestOutageRequestMs: Math.round(longest),
      allowsDuringOutage: duringOutage.filter((s) => s.allowed === true).length,
      readyzWhileDown: readyWhileDown,
      readyzAfter: readyAfter,
      recoveryAfterRestartMs: Math.round(recoveryMs),
      outageMs: Math.round(restartAt - killedAt),
      afterRecovery: tally(afterRecovery),
      writes,
    };

    expect(duringOutage.length).toBeGreaterThan(20);
    expect(duringOutage.filter((s) => s.allowed === true)).toEqual([]);
    expect(duringOutage.filter((s) => s.code !== 'SERVICE_UNAVAILABLE')).toEqual([]);
    expect(duringOutage.every((s) => s.status === 503)).toBe(true);
    expect(longest).toBeLessThan(REQUEST_BUDGET_MS);
    expect(readyWhileDown).toBe(503);
    expect(readyAfter).toBe(200);
    expect(afterRecovery.length).toBeGreaterThan(10);
    // Recovered: every check answers again. A PostgreSQL-backed write can still outlast the
    // 500 ms deadline on this shared machine; it then fails as SERVICE_UNAVAILABLE, nothing else.
    const checksAfter = afterRecovery.filter((s) => s.kind === 'check');
    const writesAfter = afterRecovery.filter((s) => s.kind === 'write');
    expect(checksAfter.filter((s) => s.code !== 'ok' || s.allowed !== true)).toEqual([]);
    expect(writesAfter.filter((s) => s.code !== 'ok' && s.code !== 'SERVICE_UNAVAILABLE')).toEqual(
      [],
    );
    expect(writesAfter.filter((s) => s.code === 'ok').length).toBeGreaterThan(
      writesAfter.length * 0.8,
    );
    expect(writes.lost).toBe(0);
    expect(writes.halfApplied).toBe(0);
  });

  it('SpiceDB frozen (SIGSTOP) under load: no request hangs past its deadline, then recovery', async () => {
    const load = startLoad(6);
    await sleep(1_500);
    spicedb.freeze();
    const frozenAt = performance.now();
    await sleep(500);
    const readyStarted = performance.now();
    const readyWhileFrozen = await readyStatus();
    const readyMs = performance.now() - readyStarted;
    await sleep(2_500);
    const thawAt = performance.now();
    spicedb.thaw();
    const recoveryMs = await waitForRecovery(thawAt);
    await sleep(1_500);
    await load.stop();

    // Requests that started after the freeze settled in and ended before the thaw.
    const duringFreeze = load.samples.filter((s) => s.start >= frozenAt + 50 && s.end <= thawAt);
    const longest = Math.max(...duringFreeze.map((s) => s.end - s.start));
    const writes = await auditWrites(load.samples);
    figures.spicedbFreeze = {
      duringFreeze: duringFreeze.length,
      outcomes: tally(duringFreeze),
      longestFrozenRequestMs: Math.round(longest),
      readyzWhileFrozen: readyWhileFrozen,
      readyzMs: Math.round(readyMs),
      recoveryAfterThawMs: Math.round(recoveryMs),
      writes,
    };
    expect(duringFreeze.length).toBeGreaterThan(5);
    expect(duringFreeze.filter((s) => s.allowed === true)).toEqual([]);
    expect(duringFreeze.filter((s) => s.code !== 'SERVICE_UNAVAILABLE')).toEqual([]);
    expect(longest).toBeLessThan(REQUEST_BUDGET_MS);
    expect(readyWhileFrozen).toBe(503);
    expect(writes.lost).toBe(0);
    expect(writes.halfApplied).toBe(0);
  });

  it('PostgreSQL crashed and restarted under writes: no acknowledged write lost, none half-applied', async () => {
    const load = startLoad(6);
    await sleep(2_000);
    const crashedAt = performance.now();
    postgres.crash();
    const downFrom = performance.now();
    await sleep(1_000);
    const readyWhileDown = await readyStatus();
    await sleep(1_000);
    const restartAt = performance.now();
    postgres.start();
    const recoveryMs = await waitForRecovery(restartAt);
    await sleep(1_000);
    const tailFrom = performance.now();
    await sleep(2_000);
    await load.stop();

    const duringOutage = load.samples.filter((s) => s.start >= downFrom && s.end <= restartAt);
    const longest = Math.max(...duringOutage.map((s) => s.end - s.start));
    const writes = await auditWrites(load.samples);
    figures.postgresCrash = {
      requests: load.samples.length,
      duringOutage: duringOutage.length,
      outageOutcomes: tally(duringOutage),
      longestOutageRequestMs: Math.round(longest),
      allowsDuringOutage: duringOutage.filter((s) => s.allowed === true).length,
      readyzWhileDown: readyWhileDown,
      recoveryAfterRestartMs: Math.round(recoveryMs),
      outageMs: Math.round(restartAt - crashedAt),
      writes,
    };
    expect(writes.acknowledged).toBeGreaterThan(20);
    expect(writes.lost).toBe(0);
    expect(writes.halfApplied).toBe(0);
    expect(duringOutage.filter((s) => s.code === 'ok' && s.kind === 'write')).toEqual([]);
    expect(duringOutage.length).toBeGreaterThan(20);
    expect(duringOutage.filter((s) => s.code !== 'SERVICE_UNAVAILABLE')).toEqual([]);
    expect(readyWhileDown).toBe(503);
    const tail = load.samples.filter((s) => s.start >= tailFrom);
    expect(tail.filter((s) => s.kind === 'check' && s.code !== 'ok')).toEqual([]);
    expect(load.samples.filter((s) => s.code.startsWith('TRANSPORT'))).toEqual([]);
  });
});
