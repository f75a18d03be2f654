/**
 * `npm run bench` (or `npm run bench -- checks`): checks and lookups through the service against
 * calling SpiceDB directly, on real SpiceDB servers this script starts and stops itself
 * (`spicedb serve` on a PostgreSQL database of its own, and `spicedb serve-testing`).
 *
 *   BENCH_SCALE=1        platform size (1 = 1,000 organizations, ~470,000 relationships)
 *   BENCH_SECONDS=4      time bound of each measured run (each is also bounded by count)
 *   BENCH_TARGETS=postgres,testing   which servers to run against
 *
 * Prints a table per server and writes every figure to bench/results/checks.json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { v1 } from '@authzed/authzed-node';
import { Metadata } from '@grpc/grpc-js';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { SignJWT } from 'jose';
import { createServices } from '../../src/app.js';
import { loadEnv } from '../../src/config/env.js';
import { connectRemote, readSchemaFile } from '../../src/spicedb/connection.js';
import type { ReadConsistency } from '../../src/spicedb/consistency.js';
import type { GatewayStats } from '../../src/spicedb/gateway.js';
import { consistencyOf, relationship, type RelationshipTuple } from '../../src/spicedb/proto.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import type { AppRouter } from '../../src/trpc/routers/_app.js';
import { createCallerFactory } from '../../src/trpc/trpc.js';
import { appRouter } from '../../src/trpc/routers/_app.js';

const createCaller = createCallerFactory(appRouter);
type Caller = ReturnType<typeof createCaller>;
import {
  AUDITOR,
  checkWorkload,
  duplicatedWorkload,
  platformRelationships,
  platformShape,
  type BenchCheck,
  type PlatformShape,
} from './platform.js';
import {
  spicedbBinary,
  startServeOnPostgres,
  startServeTesting,
  type BenchSpiceDb,
} from './spicedb-servers.js';

const SCALE = Number(process.env.BENCH_SCALE ?? '1');
/**
 * serve-testing keeps relationships in go-memdb, meant for tests: at full scale one check took
 * about a second there, at a tenth 16 ms (measured), so it gets 2% of the platform unless told
 * otherwise (BENCH_TESTING_SCALE).
 */
const TESTING_SCALE = Number(process.env.BENCH_TESTING_SCALE ?? String(Math.min(SCALE, 0.02)));
const RUN_MS = Number(process.env.BENCH_SECONDS ?? '4') * 1_000;
const WARMUP_MS = Math.min(1_000, RUN_MS / 4);
const MAX_OPS = 400_000;
const CONCURRENCY = [1, 16, 64] as const;
const BULK_CONCURRENCY = [1, 16] as const;
const TARGETS = (process.env.BENCH_TARGETS ?? 'postgres,testing').split(',').map((t) => t.trim());
const JWT_SECRET = 'bench-secret-not-for-production';
const DEADLINE_MS = 10_000;
const LOOKUP_PAGE = 1_000;
const LOOKUP_RUNS = 3;

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const resultsFile = path.join(repoRoot, 'bench/results/checks.json');

if (!Number.isFinite(SCALE) || SCALE <= 0) throw new Error('BENCH_SCALE must be a positive number');
if (!Number.isFinite(TESTING_SCALE) || TESTING_SCALE <= 0) {
  throw new Error('BENCH_TESTING_SCALE must be a positive number');
}
if (!Number.isFinite(RUN_MS) || RUN_MS <= 0) throw new Error('BENCH_SECONDS must be positive');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

// ---------------------------------------------------------------------------------------------
// Measuring

interface Row {
  server: string;
  scenario: string;
  concurrency: number;
  /** Operations completed (checks, or requests of 100 checks, or lookups). */
  ops: number;
  errors: number;
  seconds: number;
  /** Checks per second (results per second for lookups). */
  rate: number;
  p50: number;
  p95: number;
  p99: number;
  notes?: Record<string, number | string>;
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0
    ? NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN);

/**
 * A closed loop of `concurrency` workers running `op(i)` until `RUN_MS` passed or MAX_OPS ran.
 * Returns latencies (ms) of each completed op.
 */
async function closedLoop(
  concurrency: number,
  op: (index: number) => Promise<unknown>,
  durationMs: number,
  startIndex = 0,
): Promise<{ latencies: Float64Array; errors: number; seconds: number; firstError?: unknown }> {
  const latencies = new Float64Array(MAX_OPS);
  let completed = 0;
  let errors = 0;
  let firstError: unknown;
  let next = startIndex;
  const started = performance.now();
  const stopAt = started + durationMs;
  const worker = async () => {
    while (completed + errors < MAX_OPS && performance.now() < stopAt) {
      const index = next++;
      const t0 = performance.now();
      try {
        await op(index);
        latencies[completed++] = performance.now() - t0;
      } catch (error) {
        errors += 1;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1_000;
  return { latencies: latencies.slice(0, completed).sort(), errors, seconds, firstError };
}

async function measure(
  server: string,
  scenario: string,
  concurrency: number,
  op: (index: number) => Promise<unknown>,
  options: {
    checksPerOp?: number;
    warm?: boolean;
    notes?: () => Record<string, number | string>;
  } = {},
): Promise<Row> {
  if (options.warm !== false) await closedLoop(concurrency, op, WARMUP_MS, 1_000_000);
  const run = await closedLoop(concurrency, op, RUN_MS);
  if (run.errors > 0) {
    const first = run.firstError instanceof Error ? run.firstError.message : String(run.firstError);
    console.warn(
      `  ${scenario} c=${concurrency}: ${run.errors} errors, first: ${first.slice(0, 200)}`,
    );
  }
  const ops = run.latencies.length;
  const row: Row = {
    server,
    scenario,
    concurrency,
    ops,
    errors: run.errors,
    seconds: round(run.seconds, 2),
    rate: round((ops * (options.checksPerOp ?? 1)) / run.seconds, 0),
    p50: round(percentile(run.latencies, 50), 3),
    p95: round(percentile(run.latencies, 95), 3),
    p99: round(percentile(run.latencies, 99), 3),
  };
  if (options.notes) row.notes = options.notes();
  console.log(formatRow(row));
  return row;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

function formatRow(row: Row): string {
  const notes = row.notes
    ? Object.entries(row.notes)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
    : '';
  return [
    row.scenario.padEnd(34),
    String(row.concurrency).padStart(3),
    String(row.rate).padStart(9),
    row.p50.toFixed(2).padStart(8),
    row.p95.toFixed(2).padStart(8),
    row.p99.toFixed(2).padStart(8),
    String(row.errors).padStart(6),
    `  ${notes}`,
  ].join(' ');
}

const HEADER = `${'scenario'.padEnd(34)} ${'c'.padStart(3)} ${'checks/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(6)}`;

// ---------------------------------------------------------------------------------------------
// Loading the platform

/**
 * Loads the platform with ImportBulkRelationships, one call per 50,000 relationships: each call
 * is one transaction, and SpiceDB ends a call that runs past its streaming timeout (30 s).
 */
async function importPlatform(
  client: v1.ZedClientInterface,
  tuples: Iterable<RelationshipTuple>,
): Promise<number> {
  const iterator = tuples[Symbol.iterator]();
  let exhausted = false;
  const importChunk = () =>
    new Promise<number>((resolve, reject) => {
      const stream = client.importBulkRelationships(
        new Metadata(),
        { deadline: new Date(Date.now() + 10 * 60_000) },
        (error, response) => {
          if (error) reject(error);
          else resolve(Number(response?.numLoaded ?? 0));
        },
      );
      let sent = 0;
      const pump = () => {
        while (sent < 50_000) {
          const relationships: v1.Relationship[] = [];
          for (let step = iterator.next(); ; step = iterator.next()) {
            if (step.done) {
              exhausted = true;
              break;
            }
            relationships.push(relationship(step.value));
            if (relationships.length >= 5_000) break;
          }
          sent += relationships.length;
          if (relationships.length > 0) {
            const more = stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships }));
            if (exhausted) break;
            if (!more) {
              stream.once('drain', pump);
              return;
            }
          }
          if (exhausted) break;
        }
        stream.end();
      };
      pump();
    });
  let loaded = 0;
  while (!exhausted) loaded += await importChunk();
  return loaded;
}

// ---------------------------------------------------------------------------------------------
// The service: in-process (createCaller) and as its own HTTP process

interface ServiceProcess {
  url: string;
  stats(): Promise<{ stats: GatewayStats; consistency: ReadConsistency }>;
  close(): Promise<void>;
}

async function startServiceProcess(spicedb: BenchSpiceDb): Promise<ServiceProcess> {
  const child: ChildProcess = fork(path.join(repoRoot, 'scripts/bench/service-process.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      BENCH_SPICEDB_ENDPOINT: spicedb.endpoint,
      BENCH_SPICEDB_TOKEN: spicedb.token,
      BENCH_JWT_SECRET: JWT_SECRET,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the service process did not start')), 30_000);
    child.once('exit', (code) => reject(new Error(`the service process exited with ${code}`)));
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'ready' && message.port !== undefined) {
        clearTimeout(timer);
        resolve(message.port);
      }
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () =>
      new Promise((resolve) => {
        const onMessage = (message: {
          type?: string;
          stats: GatewayStats;
          consistency: ReadConsistency;
        }) => {
          if (message.type !== 'stats') return;
          child.off('message', onMessage);
          resolve(message);
        };
        child.on('message', onMessage);
        child.send({ type: 'stats' });
      }),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.send({ type: 'close' });
      }),
  };
}

const tokenFor = (sub: string, scope?: string) =>
  new SignJWT(scope ? { scope } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(JWT_SECRET));

const parseRef = (ref: string) => {
  const at = ref.indexOf(':');
  return { type: ref.slice(0, at), id: ref.slice(at + 1) };
};

const directCheckRequest = (check: BenchCheck, consistency: ReadConsistency) => {
  const resource = parseRef(check.resource);
  const subject = parseRef(check.subject);
  return v1.CheckPermissionRequest.create({
    resource: v1.ObjectReference.create({ objectType: resource.type, objectId: resource.id }),
    permission: check.permission,
    subject: v1.SubjectReference.create({
      object: v1.ObjectReference.create({ objectType: subject.type, objectId: subject.id }),
    }),
    consistency: consistencyOf(consistency),
  });
};

const directBulkRequest = (checks: BenchCheck[], consistency: ReadConsistency) =>
  v1.CheckBulkPermissionsRequest.create({
    consistency: consistencyOf(consistency),
    items: checks.map((check) => {
      const request = directCheckRequest(check, consistency);
      return v1.CheckBulkPermissionsRequestItem.create({
        ...(request.resource ? { resource: request.resource } : {}),
        permission: request.permission,
        ...(request.subject ? { subject: request.subject } : {}),
      });
    }),
  });

// ---------------------------------------------------------------------------------------------
// One server

interface Lookup {
  scenario: string;
  runs: Array<{ results: number; seconds: number }>;
  /**
   * Growth of the live heap (after a forced GC at every page, or every 1,000 streamed results)
   * over the heap before the lookup, at its highest: what the lookup holds, not its garbage.
   */
  retainedHeapMB: number;
}

/** Live-heap probe: forces a GC and records the highest live heap seen since `start`. */
function retainedProbe() {
  gc();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  return {
    sample() {
      gc();
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    },
    growthMB: () => round((peak - baseline) / 1024 / 1024, 2),
  };
}

type Probe = () => void;
const noProbe: Probe = () => {};

async function benchServer(
  spicedb: BenchSpiceDb,
  shape: PlatformShape,
): Promise<{ rows: Row[]; lookups: Lookup[]; loaded: number; loadSeconds: number }> {
  const rows: Row[] = [];
  const name = spicedb.name;
  const connection = connectRemote({
    endpoint: spicedb.endpoint,
    token: spicedb.token,
    insecure: true,
  });
  const env = loadEnv({
    NODE_ENV: 'production',
    METRICS_TOKEN: 'bench-metrics-token-not-a-secret',
    SPICEDB_ENDPOINT: spicedb.endpoint,
    SPICEDB_TOKEN: spicedb.token,
    SPICEDB_INSECURE: 'true',
    SPICEDB_TIMEOUT_MS: String(DEADLINE_MS),
    AUTH_JWT_SECRET: JWT_SECRET,
  });
  const services = createServices(env, connection);
  // The baseline: a plain authzed-node client, as an application would make one.
  const direct = v1.NewClient(
    spicedb.token,
    spicedb.endpoint,
    v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS,
  );
  let service: ServiceProcess | undefined;
  try {
    await services.spicedb.writeSchema(await readSchemaFile());
    const loadStarted = performance.now();
    const loaded = await importPlatform(direct, platformRelationships(shape));
    const loadSeconds = round((performance.now() - loadStarted) / 1_000, 1);
    console.log(`loaded ${loaded} relationships in ${loadSeconds} s`);

    const backendToken = await tokenFor('bench_backend', BACKEND_SCOPE);
    const caller = createCaller({
      ...services,
      authorization: `Bearer ${backendToken}`,
      requestId: 'bench',
    });
    service = await startServiceProcess(spicedb);
    const http = createTRPCClient<AppRouter>({
      links: [
        httpBatchLink({
          url: `${service.url}/trpc`,
          headers: { authorization: `Bearer ${backendToken}` },
          maxURLLength: 6_000,
        }),
      ],
    });
    // The direct calls use the service's own consistency: minimizeLatency while it has made no
    // write, else at least as fresh as its last one.
    await caller.authz.check({ resource: 'user:bench_backend', permission: 'view_profile' });
    await http.authz.check.query({ resource: 'user:bench_backend', permission: 'view_profile' });
    const consistency = services.spicedb.consistency();
    const httpConsistency = (await service.stats()).consistency;
    console.log(
      `consistency: service (in-process) ${consistency.kind}, service (HTTP) ${httpConsistency.kind}, direct ${consistency.kind}`,
    );

    const workload = checkWorkload(shape, 100_000);
    const at = (i: number) => workload[i % workload.length] as BenchCheck;
    const asInput = (check: BenchCheck) => ({
      resource: check.resource,
      permission: check.permission as 'view',
      subject: check.subject,
    });

    console.log(`\n${name}\n${HEADER}`);
    for (const c of CONCURRENCY) {
      rows.push(
        await measure(name, 'direct CheckPermission', c, (i) =>
          direct.promises.checkPermission(directCheckRequest(at(i), consistency), new Metadata(), {
            deadline: new Date(Date.now() + DEADLINE_MS),
          }),
        ),
      );
      rows.push(
        await measure(name, 'service authz.check (createCaller)', c, (i) =>
          caller.authz.check(asInput(at(i))),
        ),
      );
      rows.push(
        await measure(name, 'service authz.check (HTTP batch)', c, (i) =>
          http.authz.check.query(asInput(at(i))),
        ),
      );
    }

    // What the extra HTTP hop alone costs on this machine now: no tRPC, no SpiceDB.
    const healthz = `${service.url}/healthz`;
    rows.push(
      await measure(name, 'HTTP hop only (GET /healthz)', 1, async () => {
        const response = await fetch(healthz);
        await response.arrayBuffer();
      }),
    );

    const bulkOf = (i: number) =>
      Array.from({ length: 100 }, (_, k) => at((i * 100 + k) % workload.length));
    // A 100-item input does not fit the batching client's URL limit: one request each.
    const httpBulk = createTRPCClient<AppRouter>({
      links: [
        httpBatchLink({
          url: `${service.url}/trpc`,
          headers: { authorization: `Bearer ${backendToken}` },
          maxURLLength: 15_000,
          maxItems: 1,
        }),
      ],
    });
    // 64 concurrent bulks are 6,400 checks in flight: bulks run at 1 and 16.
    for (const c of BULK_CONCURRENCY) {
      rows.push(
        await measure(
          name,
          'direct CheckBulkPermissions x100',
          c,
          (i) =>
            direct.promises.checkBulkPermissions(
              directBulkRequest(bulkOf(i), consistency),
              new Metadata(),
              { deadline: new Date(Date.now() + DEADLINE_MS) },
            ),
          { checksPerOp: 100 },
        ),
      );
      rows.push(
        await measure(
          name,
          'service authz.checkBulk x100 (caller)',
          c,
          (i) => caller.authz.checkBulk({ items: bulkOf(i).map(asInput) }),
          { checksPerOp: 100 },
        ),
      );
      rows.push(
        await measure(
          name,
          'service authz.checkBulk x100 (HTTP)',
          c,
          (i) => httpBulk.authz.checkBulk.query({ items: bulkOf(i).map(asInput) }),
          { checksPerOp: 100 },
        ),
      );
    }

    // Half of the checks asked are a twin of one asked at about the same time.
    for (const c of CONCURRENCY) {
      const distinct = checkWorkload(shape, 60_000, 100 + c);
      const doubled = duplicatedWorkload(distinct, Math.max(2, c));
      const atDup = (i: number) => doubled[i % doubled.length] as BenchCheck;
      const before = services.spicedb.stats;
      rows.push(
        await measure(
          name,
          '50% duplicates authz.check (caller)',
          c,
          (i) => caller.authz.check(asInput(atDup(i))),
          {
            warm: false,
            notes: () => {
              const after = services.spicedb.stats;
              const asked = after.checksAsked - before.checksAsked;
              const calls = after.checkCalls - before.checkCalls;
              const sent = after.checksSent - before.checksSent;
              return {
                checksAsked: asked,
                spicedbCalls: calls,
                distinctSent: sent,
                callsSaved: `${round((1 - calls / asked) * 100, 1)}%`,
                sharedAnswers: `${round(((after.checksShared - before.checksShared) / asked) * 100, 1)}%`,
              };
            },
          },
        ),
      );
      const httpBefore = (await service.stats()).stats;
      const row = await measure(
        name,
        '50% duplicates authz.check (HTTP)',
        c,
        (i) => http.authz.check.query(asInput(atDup(i))),
        { warm: false },
      );
      const httpAfter = (await service.stats()).stats;
      const asked = httpAfter.checksAsked - httpBefore.checksAsked;
      const calls = httpAfter.checkCalls - httpBefore.checkCalls;
      row.notes = {
        checksAsked: asked,
        spicedbCalls: calls,
        distinctSent: httpAfter.checksSent - httpBefore.checksSent,
        callsSaved: `${round((1 - calls / asked) * 100, 1)}%`,
        sharedAnswers: `${round(((httpAfter.checksShared - httpBefore.checksShared) / asked) * 100, 1)}%`,
      };
      console.log(`    ${formatRow(row).trim().split('  ').at(-1) ?? ''}`);
      rows.push(row);
    }

    const lookups = await benchLookups(caller, http, direct, consistency, shape);
    return { rows, lookups, loaded, loadSeconds };
  } finally {
    await service?.close();
    direct.close();
    connection.close();
  }
}

async function benchLookups(
  caller: Caller,
  http: ReturnType<typeof createTRPCClient<AppRouter>>,
  direct: v1.ZedClientInterface,
  consistency: ReadConsistency,
  shape: PlatformShape,
): Promise<Lookup[]> {
  const expected = shape.organizations * shape.projectsPerOrg;
  const subject = v1.SubjectReference.create({
    object: v1.ObjectReference.create({ objectType: 'user', objectId: AUDITOR }),
  });
  const request = v1.LookupResourcesRequest.create({
    resourceObjectType: 'project',
    permission: 'view_name',
    subject,
    consistency: consistencyOf(consistency),
  });
  const stream = () =>
    direct.lookupResources(request, new Metadata(), { deadline: new Date(Date.now() + 120_000) });
  /** One LookupResources stream, counting ids as they arrive. */
  const directStreamed = (probe: Probe) =>
    new Promise<number>((resolve, reject) => {
      let count = 0;
      const results = stream();
      results.on('data', () => {
        count += 1;
        if (count % 1_000 === 0) probe();
      });
      results.on('error', reject);
      results.on('end', () => resolve(count));
    });
  /** The same stream, keeping every response: what buffering the whole result set costs. */
  const directBuffered = (probe: Probe) =>
    new Promise<number>((resolve, reject) => {
      const all: v1.LookupResourcesResponse[] = [];
      const results = stream();
      results.on('data', (r: v1.LookupResourcesResponse) => {
        all.push(r);
        if (all.length % 1_000 === 0) probe();
      });
      results.on('error', reject);
      results.on('end', () => resolve(all.length));
    });
  const paged = async (
    probe: Probe,
    page: (cursor?: string) => Promise<{ resourceIds: string[]; cursor?: string }>,
  ) => {
    let count = 0;
    let cursor: string | undefined;
    for (let pages = 0; pages < 10_000; pages += 1) {
      const result = await page(cursor);
      count += result.resourceIds.length;
      cursor = result.cursor;
      probe();
      if (cursor === undefined) break;
    }
    return count;
  };
  const input = {
    resourceType: 'project',
    permission: 'view_name' as const,
    subject: `user:${AUDITOR}`,
    limit: LOOKUP_PAGE,
  };
  const withCursor = (cursor?: string) => (cursor ? { ...input, cursor } : input);
  const scenarios: Array<[string, (probe: Probe) => Promise<number>]> = [
    ['direct LookupResources (streamed)', directStreamed],
    [
      `service lookupResources (caller, pages of ${LOOKUP_PAGE})`,
      (probe) => paged(probe, (cursor) => caller.authz.lookupResources(withCursor(cursor))),
    ],
    [
      `service lookupResources (HTTP, pages of ${LOOKUP_PAGE})`,
      (probe) => paged(probe, (cursor) => http.authz.lookupResources.query(withCursor(cursor))),
    ],
    ['direct LookupResources (buffered, reference)', directBuffered],
  ];
  const lookups: Lookup[] = scenarios.map(([scenario]) => ({
    scenario,
    runs: [],
    retainedHeapMB: NaN,
  }));
  console.log(`\nlookupResources project#view_name of ${AUDITOR} (expects ${expected} results)`);
  const expectCount = (index: number, value: number) => {
    if (value !== expected) {
      throw new Error(`${scenarios[index]?.[0]} returned ${value} results, expected ${expected}`);
    }
  };
  // Rate: interleaved timed runs (the first round warms caches and is not counted).
  for (let run = 0; run < LOOKUP_RUNS + 1; run += 1) {
    for (const [index, [, op]] of scenarios.entries()) {
      const started = performance.now();
      const value = await op(noProbe);
      const seconds = (performance.now() - started) / 1_000;
      expectCount(index, value);
      if (run > 0) lookups[index]?.runs.push({ results: value, seconds });
    }
  }
  // Memory: one more run each, with the live heap probed as results arrive (the in-process
  // service's page buffers are part of this heap; the HTTP service's are in its own process).
  for (const [index, [, op]] of scenarios.entries()) {
    const probe = retainedProbe();
    expectCount(index, await op(() => probe.sample()));
    const lookup = lookups[index];
    if (lookup) lookup.retainedHeapMB = probe.growthMB();
  }
  for (const lookup of lookups) {
    const best = bestRun(lookup);
    console.log(
      `${lookup.scenario.padEnd(48)} ${String(round(best.results / best.seconds, 0)).padStart(8)} results/s  ${(best.seconds * 1000).toFixed(0).padStart(6)} ms  live heap +${lookup.retainedHeapMB} MB`,
    );
  }
  return lookups;
}

/** The median run by time. */
function bestRun(lookup: Lookup) {
  const sorted = [...lookup.runs].sort((a, b) => a.seconds - b.seconds);
  return sorted[Math.floor(sorted.length / 2)] ?? { results: 0, seconds: NaN };
}

// ---------------------------------------------------------------------------------------------
// Targets

interface TargetCheck {
  server: string;
  target: string;
  holds: boolean;
  figures: string;
}

function evaluate(server: string, rows: Row[], lookups: Lookup[]): TargetCheck[] {
  const row = (scenario: string, c: number) =>
    rows.find((r) => r.server === server && r.scenario === scenario && r.concurrency === c);
  const checks: TargetCheck[] = [];
  const direct64 = row('direct CheckPermission', 64);
  const direct1 = row('direct CheckPermission', 1);
  for (const via of ['HTTP batch', 'createCaller']) {
    const service64 = row(`service authz.check (${via})`, 64);
    const service1 = row(`service authz.check (${via})`, 1);
    if (direct64 && service64) {
      const ratio = service64.rate / direct64.rate;
      checks.push({
        server,
        target: `authz.check (${via}) throughput at c=64 >= 1.0x direct`,
        holds: ratio >= 1,
        figures: `${service64.rate}/s vs ${direct64.rate}/s = ${ratio.toFixed(2)}x`,
      });
    }
    if (direct1 && service1) {
      checks.push({
        server,
        target: `authz.check (${via}) p50 at c=1 <= direct p50 + 1 ms`,
        holds: service1.p50 <= direct1.p50 + 1,
        figures: `${service1.p50} ms vs ${direct1.p50} ms (+${(service1.p50 - direct1.p50).toFixed(3)} ms)`,
      });
    }
  }
  for (const c of CONCURRENCY) {
    for (const via of ['caller', 'HTTP']) {
      const dup = row(`50% duplicates authz.check (${via})`, c);
      const asked = Number(dup?.notes?.checksAsked ?? 0);
      const calls = Number(dup?.notes?.spicedbCalls ?? 0);
      if (dup && asked > 0) {
        const saved = 1 - calls / asked;
        checks.push({
          server,
          target: `50% duplicates (${via}, c=${c}): >= 45% fewer SpiceDB calls than checks`,
          holds: saved >= 0.45,
          figures: `${calls} calls for ${asked} checks (${(saved * 100).toFixed(1)}% fewer)`,
        });
      }
    }
  }
  const directLookup = lookups.find((l) =>
    l.scenario.startsWith('direct LookupResources (streamed'),
  );
  const buffered = lookups.find((l) => l.scenario.startsWith('direct LookupResources (buffered'));
  for (const lookup of lookups.filter((l) => l.scenario.startsWith('service'))) {
    if (!directLookup) break;
    const serviceRun = bestRun(lookup);
    const directRun = bestRun(directLookup);
    const ratio = serviceRun.results / serviceRun.seconds / (directRun.results / directRun.seconds);
    checks.push({
      server,
      target: `${lookup.scenario} >= 0.9x direct streamed rate`,
      holds: ratio >= 0.9,
      figures: `${ratio.toFixed(2)}x (${(serviceRun.seconds * 1000).toFixed(0)} ms vs ${(directRun.seconds * 1000).toFixed(0)} ms for ${serviceRun.results})`,
    });
    if (lookup.scenario.includes('caller') && buffered) {
      // Flat: what the paged lookup holds stays well under what holding the whole set costs.
      checks.push({
        server,
        target: `${lookup.scenario}: flat memory (live heap < half of buffering the set)`,
        holds: lookup.retainedHeapMB < buffered.retainedHeapMB / 2,
        figures: `+${lookup.retainedHeapMB} MB paged vs +${buffered.retainedHeapMB} MB buffered (direct streamed +${directLookup.retainedHeapMB} MB)`,
      });
    }
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const shape = platformShape(SCALE);
  const binary = spicedbBinary();
  const loadAtStart = os.loadavg();
  console.log(
    `checks benchmark: scale ${SCALE} (${shape.organizations} organizations, ${shape.organizations * shape.projectsPerOrg} projects, ${shape.organizations * shape.usersPerOrg} users), runs of ${RUN_MS / 1000} s, concurrency ${CONCURRENCY.join('/')}`,
  );
  const starters: Record<string, (binary: string) => Promise<BenchSpiceDb>> = {
    postgres: startServeOnPostgres,
    testing: startServeTesting,
  };
  const rows: Row[] = [];
  const servers: Array<{
    name: string;
    date: string;
    scale: number;
    loadAverage: number[];
    relationships: number;
    loadSeconds: number;
    lookups: Lookup[];
  }> = [];
  const targets: TargetCheck[] = [];
  const failures: string[] = [];
  for (const target of TARGETS) {
    const start = starters[target];
    if (!start) {
      failures.push(`unknown BENCH_TARGETS entry ${target} (use postgres, testing)`);
      continue;
    }
    let spicedb: BenchSpiceDb | undefined;
    try {
      spicedb = await start(binary);
      console.log(
        `\n=== ${spicedb.name} at ${spicedb.endpoint} (load average ${os
          .loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} on ${os.cpus().length} CPUs)`,
      );
      const scale = target === 'testing' ? TESTING_SCALE : SCALE;
      const serverShape = platformShape(scale);
      console.log(
        `platform at scale ${scale}: ${serverShape.organizations} organizations, ${serverShape.organizations * serverShape.projectsPerOrg} projects, ${serverShape.organizations * serverShape.usersPerOrg} users`,
      );
      const result = await benchServer(spicedb, serverShape);
      rows.push(...result.rows);
      servers.push({
        name: spicedb.name,
        date: new Date().toISOString(),
        scale,
        loadAverage: os.loadavg(),
        relationships: result.loaded,
        loadSeconds: result.loadSeconds,
        lookups: result.lookups,
      });
      targets.push(...evaluate(spicedb.name, result.rows, result.lookups));
    } catch (error) {
      failures.push(`${target}: ${error instanceof Error ? error.message : String(error)}`);
      console.error(`${target} failed:`, error);
    } finally {
      await spicedb?.stop();
    }
  }

  console.log('\nTargets');
  for (const t of targets) {
    console.log(`  ${t.holds ? 'HOLDS ' : 'MISSES'} [${t.server}] ${t.target}: ${t.figures}`);
  }
  mkdirSync(path.dirname(resultsFile), { recursive: true });
  // A run on some servers keeps the figures an earlier run wrote for the others.
  const ran = new Set(servers.map((s) => s.name));
  const earlier = existsSync(resultsFile)
    ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as Partial<{
        servers: Array<{ name: string }>;
        rows: Row[];
        targets: TargetCheck[];
      }>)
    : {};
  const kept = <T>(items: T[] | undefined, name: (item: T) => string) =>
    (items ?? []).filter((item) => !ran.has(name(item)));
  servers.unshift(...(kept(earlier.servers, (s) => s.name) as typeof servers));
  rows.unshift(...kept(earlier.rows, (r) => r.server));
  targets.unshift(...kept(earlier.targets, (t) => t.server));
  writeFileSync(
    resultsFile,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        scale: SCALE,
        shape,
        runSeconds: RUN_MS / 1000,
        concurrency: CONCURRENCY,
        node: process.version,
        cpus: os.cpus().length,
        loadAverage: { atStart: loadAtStart, atEnd: os.loadavg() },
        servers,
        rows,
        targets,
        failures,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${path.relative(repoRoot, resultsFile)}`);
  if (failures.length > 0) {
    console.error(`\nfailed: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
}

await main();
