/**
 * `npm run bench -- checks [--quick]`: authz.check through the service against asking SpiceDB
 * directly, on a SpiceDB (PostgreSQL datastore) this script starts and stops itself.
 *
 * The load generator and every service are processes of their own; each service process is
 * warmed by the same number of requests before it is measured; every block asks checks that no
 * other block or warm-up asked (users of its own); the scenarios of a cell run A B C D D C B A.
 * Prints tables, the targets of issue #16, and writes bench/results/checks.json.
 *
 *   --quick              a small platform and short blocks, for development
 *   BENCH_SCALE=0.12     platform size (1 = 1,000 organizations, ~470,000 relationships)
 *   BENCH_DATASTORE=postgres | memory | testing
 *   BENCH_CPU_PROF=1     every child process writes a --cpu-prof profile (in the cwd)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { v1 } from '@authzed/authzed-node';
import { readSchemaFile } from '../../src/spicedb/connection.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import { startSpiceDb, type SpiceDbDatastore } from '../../testkit/spicedb-process.js';
import { tokenFor } from '../../testkit/tokens.js';
import type { BlockResult } from './checks/closed-loop.js';
import { startWorker, type Worker } from './checks/ipc.js';
import { formatRow, HEADER, rowOf, type Measured, type Row } from './checks/report.js';
import { importPlatform, processCpuMs } from './checks/spicedb-load.js';
import { evaluateTargets } from './checks/targets.js';
import type { Transport } from './checks/transports.js';
import { DisjointWorkload } from './checks/workload.js';
import { auditorId, platformRelationships, platformShape, type BenchCheck } from './platform.js';

const QUICK = process.argv.includes('--quick');
const SCALE = Number(process.env.BENCH_SCALE ?? (QUICK ? '0.03' : '0.12'));
const DATASTORE = (process.env.BENCH_DATASTORE ?? 'postgres') as SpiceDbDatastore;
/** Requests per block by concurrency (each cell measures two blocks per scenario). */
const BLOCK: Record<number, number> = QUICK
  ? { 1: 100, 16: 400, 64: 800 }
  : { 1: 300, 16: 1_600, 64: 3_200 };
const WARMUP = QUICK ? 300 : 1_500;
const LOOKUP_RUNS = QUICK ? 1 : 3;
const LOOKUP_PAGE = 250;
const JWT_SECRET = 'bench-secret-not-for-production';
const here = path.dirname(fileURLToPath(import.meta.url));
const resultsFile = path.join(here, '../../bench/results/checks.json');

type Scenario = { name: string; transport: Transport | 'caller'; service?: string };

async function main() {
  const loadAtStart = os.loadavg();
  const started = new Date();
  const shape = { ...platformShape(SCALE), auditors: 4 + 7 * LOOKUP_RUNS };
  console.log(
    `checks benchmark ${started.toISOString()}${QUICK ? ' (--quick)' : ''}: scale ${SCALE} (${shape.organizations} organizations, ${shape.organizations * shape.usersPerOrg} users), ` +
      `blocks of ${Object.entries(BLOCK)
        .map(([c, n]) => `${n} at c=${c}`)
        .join(
          ', ',
        )}, warm-up ${WARMUP} requests per process, load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`,
  );
  const spicedb = await startSpiceDb({
    datastore: DATASTORE,
    databasePrefix: 'perf_bench',
    schema: await readSchemaFile(),
  });
  const workers: Worker[] = [];
  try {
    const direct = v1.NewClient(
      spicedb.token,
      spicedb.endpoint,
      v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS,
    );
    const loadStarted = performance.now();
    const loaded = await importPlatform(direct, platformRelationships(shape));
    direct.close();
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    console.log(`loaded ${loaded} relationships into ${DATASTORE} in ${loadSeconds.toFixed(1)} s`);

    const callerToken = await tokenFor('bench_backend', {
      secret: JWT_SECRET,
      scope: BACKEND_SCOPE,
      expiresIn: '4h',
    });
    const childEnv = {
      BENCH_SPICEDB_ENDPOINT: spicedb.endpoint,
      BENCH_SPICEDB_TOKEN: spicedb.token,
      BENCH_JWT_SECRET: JWT_SECRET,
      BENCH_CALLER_TOKEN: callerToken,
    };
    const loadgen = await startWorker(path.join(here, 'checks/load-generator.ts'), childEnv);
    workers.push(loadgen);
    const services = new Map<string, Worker & { url: string }>();
    const startService = async (name: string, layer?: string) => {
      const worker = await startWorker(path.join(here, 'checks/service.ts'), {
        ...childEnv,
        ...(layer ? { BENCH_HTTP_LAYER: layer } : {}),
      });
      workers.push(worker);
      const service = Object.assign(worker, {
        url: `http://127.0.0.1:${String(worker.hello.port)}`,
      });
      services.set(name, service);
      return service;
    };
    const stopService = async (name: string) => {
      await services.get(name)?.close();
      services.delete(name);
    };

    const workload = new DisjointWorkload(shape);
    const runBlock = async (scenario: Scenario, concurrency: number, checks: BenchCheck[]) => {
      const service = scenario.service ? services.get(scenario.service) : undefined;
      const serviceCpu = async () =>
        service ? (await service.request<{ cpuMs: number }>({ type: 'cpu' })).cpuMs : NaN;
      const before = await serviceCpu();
      const spicedbBefore = processCpuMs(spicedb.pid);
      const message = { type: 'run', concurrency, checks };
      const block =
        scenario.transport === 'caller'
          ? await (service as Worker).request<BlockResult>(message)
          : await loadgen.request<BlockResult>({
              ...message,
              transport: scenario.transport,
              ...(service ? { url: service.url } : {}),
            });
      const measured: Measured = {
        block,
        serviceCpuMs: service ? (await serviceCpu()) - before : null,
        spicedbCpuMs: processCpuMs(spicedb.pid) - spicedbBefore,
      };
      return measured;
    };
    /** Every process's warm-up: a third at c=1 (the unbatched path), the rest at c=16. */
    const warm = async (scenario: Scenario) => {
      for (const [c, count] of [
        [1, Math.round(WARMUP / 3)],
        [16, WARMUP - Math.round(WARMUP / 3)],
      ] as const) {
        const result = await runBlock(scenario, c, workload.distinct(count));
        if (result.block.errors > 0) {
          throw new Error(`${scenario.name} warm-up failed: ${result.block.firstError ?? ''}`);
        }
      }
    };

    const rows: Row[] = [];
    /** Every scenario of the cell measured twice, in A B ... B A order. */
    const cell = async (
      section: string,
      scenarios: Scenario[],
      mix: 'distinct' | 'duplicates',
      concurrency: number,
    ) => {
      const blocks = new Map<string, Measured[]>();
      for (const scenario of [...scenarios, ...[...scenarios].reverse()]) {
        const count = BLOCK[concurrency] ?? 1_000;
        const checks =
          mix === 'distinct'
            ? workload.distinct(count)
            : workload.duplicated(count, Math.max(2, concurrency));
        const list = blocks.get(scenario.name) ?? [];
        list.push(await runBlock(scenario, concurrency, checks));
        blocks.set(scenario.name, list);
      }
      for (const scenario of scenarios) {
        const row = rowOf(
          { section, scenario: scenario.name, mix, concurrency },
          blocks.get(scenario.name) ?? [],
        );
        rows.push(row);
        console.log(formatRow(row));
        if (row.firstError) console.log(`    first error: ${row.firstError}`);
      }
    };

    // 1. The transports.
    const main: Scenario[] = [
      { name: 'direct CheckPermission', transport: 'direct' },
      { name: 'HTTP plain keep-alive client', transport: 'http-plain', service: 'plain' },
      { name: 'HTTP typed client (createAuthzClient)', transport: 'http-typed', service: 'typed' },
      { name: 'createCaller (in-process)', transport: 'caller', service: 'caller' },
    ];
    for (const name of ['plain', 'typed', 'caller']) await startService(name);
    for (const scenario of main) await warm(scenario);
    console.log(`\n${HEADER}`);
    for (const mix of ['distinct', 'duplicates'] as const) {
      for (const c of [1, 16, 64]) await cell('transports', main, mix, c);
    }
    const hop = rowOf(
      { section: 'transports', scenario: 'HTTP hop only (GET /healthz)', mix: '-', concurrency: 1 },
      [
        await runBlock(
          { name: 'healthz', transport: 'healthz', service: 'plain' },
          1,
          Array(BLOCK[1]).fill(null) as BenchCheck[],
        ),
      ],
    );
    rows.push(hop);
    console.log(formatRow(hop));

    // 2. Lookups: the direct stream against pages through the service.
    const lookupRows: Row[] = [];
    {
      const lookupScenarios = [
        { name: 'direct LookupResources stream', via: 'direct' },
        { name: `HTTP lookupResources (pages of ${LOOKUP_PAGE})`, via: 'http', service: 'plain' },
        {
          name: `createCaller lookupResources (pages of ${LOOKUP_PAGE})`,
          via: 'caller',
          service: 'caller',
        },
      ];
      let auditor = 1;
      const lookup = async (scenario: (typeof lookupScenarios)[number]) => {
        const message = {
          type: 'lookup',
          via: scenario.via,
          resourceType: 'project',
          permission: 'view_name',
          subject: auditorId(auditor++),
          limit: LOOKUP_PAGE,
        };
        const service = scenario.service ? services.get(scenario.service) : undefined;
        const target = scenario.via === 'caller' ? (service as Worker) : loadgen;
        const cpu0 = service
          ? (await service.request<{ cpuMs: number }>({ type: 'cpu' })).cpuMs
          : 0;
        const sdb0 = processCpuMs(spicedb.pid);
        const answer = await target.request<{ results: number; seconds: number; cpuMs: number }>({
          ...message,
          ...(service ? { url: service.url } : {}),
        });
        const cpu1 = service
          ? (await service.request<{ cpuMs: number }>({ type: 'cpu' })).cpuMs
          : 0;
        const expected = shape.organizations * shape.projectsPerOrg;
        if (answer.results !== expected) {
          throw new Error(`${scenario.name}: ${answer.results} results, expected ${expected}`);
        }
        return {
          ...answer,
          serviceCpuMs: service ? cpu1 - cpu0 : null,
          spicedbCpuMs: processCpuMs(spicedb.pid) - sdb0,
        };
      };
      for (const scenario of lookupScenarios) await lookup(scenario); // warm-up, one each
      const runs = new Map<string, Awaited<ReturnType<typeof lookup>>[]>();
      for (let r = 0; r < LOOKUP_RUNS; r += 1) {
        for (const scenario of [...lookupScenarios, ...[...lookupScenarios].reverse()]) {
          const list = runs.get(scenario.name) ?? [];
          list.push(await lookup(scenario));
          runs.set(scenario.name, list);
        }
      }
      console.log(
        `\nlookupResources project#view_name (${shape.organizations * shape.projectsPerOrg} results, a subject no other run asked as)`,
      );
      for (const scenario of lookupScenarios) {
        const list = runs.get(scenario.name) ?? [];
        const results = list.reduce((s, r) => s + r.results, 0);
        const seconds = list.reduce((s, r) => s + r.seconds, 0);
        const row: Row = {
          section: 'lookups',
          scenario: scenario.name,
          mix: '-',
          concurrency: 1,
          requests: list.length,
          errors: 0,
          seconds: Number(seconds.toFixed(3)),
          rate: Math.round(results / seconds),
          p50: NaN,
          p95: NaN,
          p99: NaN,
          serviceCpuMs: scenario.service
            ? Number((list.reduce((s, r) => s + (r.serviceCpuMs ?? 0), 0) / list.length).toFixed(2))
            : null,
          spicedbCpuMs: Number(
            (list.reduce((s, r) => s + r.spicedbCpuMs, 0) / list.length).toFixed(2),
          ),
          clientCpuMs: Number((list.reduce((s, r) => s + r.cpuMs, 0) / list.length).toFixed(2)),
        };
        lookupRows.push(row);
        console.log(
          `${scenario.name.padEnd(48)} ${String(row.rate).padStart(8)} results/s  ${((seconds / list.length) * 1000).toFixed(0).padStart(6)} ms a lookup  service CPU ${row.serviceCpuMs ?? '-'} ms`,
        );
      }
    }
    for (const name of ['plain', 'typed', 'caller']) await stopService(name);

    // 3. The typed client's links, each against a service process of its own.
    const links: Scenario[] = [
      { name: 'client httpBatchLink', transport: 'link-batch', service: 'link-batch' },
      { name: 'client httpLink', transport: 'link-single', service: 'link-single' },
      {
        name: 'client batch window 0 (same tick)',
        transport: 'link-batch0',
        service: 'link-batch0',
      },
    ];
    for (const scenario of links) await startService(scenario.service ?? '');
    for (const scenario of links) await warm(scenario);
    console.log(`\n${HEADER}`);
    for (const c of [1, 64]) await cell('client links', links, 'distinct', c);
    for (const scenario of links) await stopService(scenario.service ?? '');

    // 4. The HTTP layer: tRPC's standalone adapter against the lean handler, same client.
    const layers: Scenario[] = [
      {
        name: 'HTTP layer: tRPC standalone adapter',
        transport: 'http-plain',
        service: 'standalone',
      },
      { name: 'HTTP layer: lean handler', transport: 'http-plain', service: 'lean' },
    ];
    await startService('standalone', 'standalone');
    await startService('lean', 'lean');
    for (const scenario of layers) await warm(scenario);
    console.log(`\n${HEADER}`);
    for (const c of [1, 64]) await cell('http layer', layers, 'distinct', c);

    const loadAtEnd = os.loadavg();
    const targets = evaluateTargets([...rows, ...lookupRows]);
    console.log('\nTargets (ratios and CPU per request from this run)');
    for (const t of targets)
      console.log(`  ${t.holds ? 'HOLDS ' : 'MISSES'} ${t.target}: ${t.figures}`);
    console.log(
      `\nload average at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')}`,
    );
    mkdirSync(path.dirname(resultsFile), { recursive: true });
    writeFileSync(
      resultsFile,
      `${JSON.stringify(
        {
          date: started.toISOString(),
          quick: QUICK,
          datastore: DATASTORE,
          scale: SCALE,
          shape,
          relationships: loaded,
          node: process.version,
          cpus: os.cpus().length,
          loadAverage: { atStart: loadAtStart, atEnd: loadAtEnd },
          method: {
            order: 'A B ... B A within every cell; results are the sum of both blocks',
            warmup: `${WARMUP} requests (a third at c=1, the rest at c=16) per service process and per transport before any measurement`,
            workload:
              'every block and warm-up asks checks of users no other block asked about (disjoint subjects)',
            blocks: BLOCK,
            cpu: 'service: process.cpuUsage of the service process over the block (reported over IPC); spicedb: /proc utime+stime; client: the load generator process',
          },
          rows: [...rows, ...lookupRows],
          targets,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`wrote ${path.relative(process.cwd(), resultsFile)}`);
  } finally {
    for (const worker of workers) await worker.close().catch(() => undefined);
    await spicedb.stop();
  }
}

await main();
