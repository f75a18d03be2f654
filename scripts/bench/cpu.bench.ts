/**
 * `npm run bench -- cpu`: the service CPU of one HTTP `authz.check` (plain keep-alive client,
 * distinct subjects), alone, for profiling. Each concurrency gets a fresh service process
 * (warmed by the same requests), so with BENCH_CPU_PROF its profile holds that concurrency only.
 *
 *   BENCH_CPU_C=1,64        concurrencies (one service process each)
 *   BENCH_CPU_REQUESTS=2000 measured requests per concurrency
 *   BENCH_CPU_BASELINE=DIR  also a service from another checkout (its scripts/bench/checks/service.ts),
 *                           measured in the same run, blocks interleaved A B B A
 *   BENCH_CPU_ROUNDS=2      A B B A rounds (blocks of REQUESTS / (2 x ROUNDS))
 *   BENCH_CPU_WINDOW=DIR    a CPU profile of each measured block (not start-up nor warm-up):
 *                           DIR/c1.cpuprofile, DIR/c64.cpuprofile
 *   BENCH_DATASTORE=memory  SpiceDB's datastore (memory by default here: only the service counts)
 *   BENCH_CPU_LOOKUPS=3     then lookupResources over HTTP against the direct stream, N each
 *   BENCH_CPU_PAGE=250      the lookups' page size
 *   BENCH_SCALE             platform size (lookups find scale x 10,000 projects)
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { v1 } from '@authzed/authzed-node';
import { readSchemaFile } from '../../src/spicedb/connection.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import { startSpiceDb, type SpiceDbDatastore } from '../../testkit/spicedb-process.js';
import { tokenFor } from '../../testkit/tokens.js';
import type { BlockResult } from './checks/closed-loop.js';
import { startWorker } from './checks/ipc.js';
import { importPlatform } from './checks/spicedb-load.js';
import { DisjointWorkload } from './checks/workload.js';
import { auditorId, platformRelationships, platformShape } from './platform.js';

const CONCURRENCIES = (process.env.BENCH_CPU_C ?? '1,64').split(',').map(Number);
const REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? '2000');
const WARMUP = 1_000;
const ROUNDS = Number(process.env.BENCH_CPU_ROUNDS ?? '2');
const DATASTORE = (process.env.BENCH_DATASTORE ?? 'memory') as SpiceDbDatastore;
const JWT_SECRET = 'bench-secret-not-for-production';
const here = path.dirname(fileURLToPath(import.meta.url));

const loadAtStart = os.loadavg();
const needed = (WARMUP + REQUESTS + 100) * CONCURRENCIES.length * 2;
const LOOKUPS = Number(process.env.BENCH_CPU_LOOKUPS ?? '0');
const PAGE = Number(process.env.BENCH_CPU_PAGE ?? '250');
const shape = {
  ...platformShape(Number(process.env.BENCH_SCALE ?? Math.max(0.03, needed / 24 / 50_000))),
  auditors: 1 + 2 * LOOKUPS,
};
const spicedb = await startSpiceDb({
  datastore: DATASTORE,
  databasePrefix: 'perf_cpu',
  schema: await readSchemaFile(),
});
const workers: Array<{ close(): Promise<void> }> = [];
try {
  const direct = v1.NewClient(
    spicedb.token,
    spicedb.endpoint,
    v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS,
  );
  await importPlatform(direct, platformRelationships(shape));
  direct.close();
  const childEnv = {
    BENCH_SPICEDB_ENDPOINT: spicedb.endpoint,
    BENCH_SPICEDB_TOKEN: spicedb.token,
    BENCH_JWT_SECRET: JWT_SECRET,
    BENCH_CALLER_TOKEN: await tokenFor('bench_backend', {
      secret: JWT_SECRET,
      scope: BACKEND_SCOPE,
      expiresIn: '4h',
    }),
  };
  const loadgen = await startWorker(path.join(here, 'checks/load-generator.ts'), childEnv);
  workers.push(loadgen);
  const workload = new DisjointWorkload(shape);
  console.log(
    `cpu benchmark ${new Date().toISOString()}: ${DATASTORE}, ${REQUESTS} requests per concurrency, load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const window = process.env.BENCH_CPU_WINDOW;
  const baseline = process.env.BENCH_CPU_BASELINE;
  const variants = [
    {
      name: 'current',
      script: process.env.BENCH_CPU_CURRENT
        ? path.resolve(process.env.BENCH_CPU_CURRENT, 'scripts/bench/checks/service.ts')
        : path.join(here, 'checks/service.ts'),
    },
    ...(baseline
      ? [{ name: 'baseline', script: path.resolve(baseline, 'scripts/bench/checks/service.ts') }]
      : []),
  ];
  for (const concurrency of CONCURRENCIES) {
    const services = [];
    for (const variant of variants) {
      const worker = await startWorker(variant.script, childEnv);
      workers.push(worker);
      services.push({
        ...variant,
        worker,
        url: `http://127.0.0.1:${String(worker.hello.port)}`,
        cpuMs: 0,
        systemMs: 0,
        checks: 0,
        seconds: 0,
      });
    }
    const run = (url: string, c: number, count: number) =>
      loadgen.request<BlockResult>({
        type: 'run',
        transport: 'http-plain',
        url,
        concurrency: c,
        checks: workload.distinct(count),
      });
    // The same warm-up for every process, at both the measured concurrency and c=16.
    for (const service of services) {
      await run(service.url, concurrency, WARMUP / 2);
      await run(service.url, 16, WARMUP / 2);
    }
    const current = services[0];
    if (window && current) await current.worker.request({ type: 'profile-start' });
    // A B B A, ROUNDS times: each variant measured 2 x ROUNDS times, in equal blocks.
    const order = [...services, ...[...services].reverse()];
    const blocks = Array.from({ length: ROUNDS }, () => order).flat();
    for (const service of blocks) {
      const cpu = () =>
        service.worker.request<{ cpuMs: number; systemMs: number }>({ type: 'cpu' });
      const before = await cpu();
      const block = await run(service.url, concurrency, REQUESTS / (2 * ROUNDS));
      const after = await cpu();
      service.cpuMs += after.cpuMs - before.cpuMs;
      service.systemMs += after.systemMs - before.systemMs;
      service.checks += block.latencies.length;
      service.seconds += block.seconds;
      if (block.errors > 0) throw new Error(`${service.name}: ${block.firstError ?? ''}`);
    }
    if (window && current) {
      mkdirSync(window, { recursive: true });
      const file = path.resolve(window, `c${String(concurrency)}.cpuprofile`);
      await current.worker.request({ type: 'profile-stop', file });
    }
    for (const service of services) {
      console.log(
        `c=${String(concurrency).padStart(2)} ${service.name.padEnd(8)}: ${service.checks} checks, ${Math.round(service.checks / service.seconds)}/s, service CPU ${(service.cpuMs / service.checks).toFixed(3)} ms/check (system ${(service.systemMs / service.checks).toFixed(3)})`,
      );
      await service.worker.close();
    }
  }
  if (LOOKUPS > 0) {
    const service = await startWorker(path.join(here, 'checks/service.ts'), childEnv);
    workers.push(service);
    const url = `http://127.0.0.1:${String(service.hello.port)}`;
    const cpu = async () => (await service.request<{ cpuMs: number }>({ type: 'cpu' })).cpuMs;
    let auditor = 0;
    const lookup = (via: 'direct' | 'http') =>
      loadgen.request<{ results: number; seconds: number; cpuMs: number }>({
        type: 'lookup',
        via,
        url,
        resourceType: 'project',
        permission: 'view_name',
        subject: auditorId(auditor++),
        limit: PAGE,
      });
    await lookup('http');
    const window = process.env.BENCH_CPU_WINDOW;
    const totals = { direct: { s: 0, n: 0, cpu: 0 }, http: { s: 0, n: 0, cpu: 0 } };
    if (window) await service.request({ type: 'profile-start' });
    for (let r = 0; r < LOOKUPS; r += 1) {
      for (const via of r % 2 === 0
        ? (['direct', 'http'] as const)
        : (['http', 'direct'] as const)) {
        const before = await cpu();
        const answer = await lookup(via);
        totals[via].cpu += (await cpu()) - before;
        totals[via].s += answer.seconds;
        totals[via].n += answer.results;
      }
    }
    if (window) {
      await service.request({
        type: 'profile-stop',
        file: path.resolve(window, 'lookups.cpuprofile'),
      });
    }
    for (const via of ['direct', 'http'] as const) {
      const t = totals[via];
      console.log(
        `lookup ${via.padEnd(6)}: ${t.n / LOOKUPS} results, ${Math.round(t.n / t.s)} results/s, ${((t.s / LOOKUPS) * 1000).toFixed(0)} ms a lookup, service CPU ${(t.cpu / LOOKUPS).toFixed(1)} ms a lookup`,
      );
    }
    console.log(
      `lookup HTTP/direct: ${(totals.direct.s / totals.http.s).toFixed(2)}x (pages of ${PAGE})`,
    );
  }
} finally {
  for (const worker of workers) await worker.close().catch(() => undefined);
  await spicedb.stop();
}
const loadAtEnd = os.loadavg();
console.log(
  `load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')}`,
);
