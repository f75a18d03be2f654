/**
 * `npm run bench -- cluster`: the service's check throughput on SpiceDB clusters of 1, 2 and 3
 * `spicedb serve` nodes (dispatch clustering, one PostgreSQL of the benchmark's own), side by
 * side in one run, over HTTP through the service, with CPU per request and the load average.
 *
 * On one machine every node shares the same cores: more nodes add dispatch hops and processes,
 * not CPU. The figure says that the cluster works at speed, not how it scales on real hosts.
 * BENCH_CLUSTER_SECONDS (default 8) per node count, BENCH_CLUSTER_CONCURRENCY (default 16).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectSpiceDb, createServices } from '../../src/app.js';
import { createAuthzClient } from '../../src/client.js';
import { loadEnv } from '../../src/config/env.js';
import { createHttpServer } from '../../src/server.js';
import { readSchemaFile } from '../../src/spicedb/connection.js';
import { matrixCells, userOf } from '../../testkit/matrix.js';
import { startOwnPostgres } from '../../testkit/postgres-process.js';
import { buildSampleOrganization } from '../../testkit/sample-org.js';
import { ensureSpiceDbBinary } from '../../testkit/spicedb-binary.js';
import { startSpiceDbCluster } from '../../testkit/spicedb-cluster.js';
import { TEST_JWT_SECRET, tokenFor } from '../../testkit/tokens.js';

const SECONDS = Number(process.env.BENCH_CLUSTER_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CLUSTER_CONCURRENCY ?? 16);
const WARMUP_MS = 2_000;
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const loadAverage = () => os.loadavg().map((l) => Number(l.toFixed(2)));

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Row {
  nodes: number;
  checksPerSecond: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  serviceCpuMsPerCheck: number;
  spicedbCpuMsPerCheck: number;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
}

async function measure(nodes: number, binary: string, schema: string): Promise<Row> {
  const postgres = await startOwnPostgres();
  try {
    const cluster = await startSpiceDbCluster({
      nodes,
      postgres,
      database: `spicedb_bench_cluster_${nodes}`,
      binary,
      schema,
    });
    try {
      const env = loadEnv({
        NODE_ENV: 'test',
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        SPICEDB_ENDPOINT: cluster.endpoint,
        SPICEDB_TOKEN: cluster.token,
        SPICEDB_INSECURE: 'true',
        AUDIT_LOG: 'off',
        LOG_LEVEL: 'silent',
        RATE_LIMIT_PER_SECOND: '0',
      });
      const connection = await connectSpiceDb(env);
      await buildSampleOrganization(connection);
      const services = createServices(env, connection);
      const server = createHttpServer(services, { webRoot: false });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const token = await tokenFor('bench-backend', { scope: 'authz:check' });
      const client = createAuthzClient({ url, getToken: () => token });
      const cells = matrixCells();
      const latencies: number[] = [];
      let failed = 0;
      let measuring = false;
      let running = true;
      let turn = 0;
      const worker = async () => {
        while (running) {
          const cell = cells[(turn += 1) % cells.length] as (typeof cells)[number];
          const started = performance.now();
          try {
            await client.authz.check.query({
              resource: `${cell.resource.type}:${cell.resource.id}`,
              permission: cell.permission,
              subject: `user:${userOf(cell.persona)}`,
            } as Parameters<typeof client.authz.check.query>[0]);
            if (measuring) latencies.push(performance.now() - started);
          } catch {
            if (measuring) failed += 1;
          }
        }
      };
      const load = Promise.all(Array.from({ length: CONCURRENCY }, worker));
      await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
      const loadAverageBefore = loadAverage();
      const serviceCpu = process.cpuUsage();
      const spicedbCpu = cluster.nodes.map((node) => cpuSecondsOf(node.pid));
      const started = performance.now();
      measuring = true;
      await new Promise((resolve) => setTimeout(resolve, SECONDS * 1_000));
      measuring = false;
      const elapsed = (performance.now() - started) / 1_000;
      const serviceUsed = process.cpuUsage(serviceCpu);
      const spicedbUsed = cluster.nodes.reduce(
        (sum, node, i) => sum + cpuSecondsOf(node.pid) - (spicedbCpu[i] ?? 0),
        0,
      );
      running = false;
      await load;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      services.spicedb.close();
      const sorted = [...latencies].sort((a, b) => a - b);
      const at = (q: number) =>
        Number((sorted[Math.floor(q * (sorted.length - 1))] ?? 0).toFixed(1));
      const checks = latencies.length;
      return {
        nodes,
        checksPerSecond: Math.round(checks / elapsed),
        failed,
        p50Ms: at(0.5),
        p99Ms: at(0.99),
        serviceCpuMsPerCheck: Number(
          ((serviceUsed.user + serviceUsed.system) / 1_000 / Math.max(1, checks)).toFixed(3),
        ),
        spicedbCpuMsPerCheck: Number(((spicedbUsed * 1_000) / Math.max(1, checks)).toFixed(3)),
        loadAverageBefore,
        loadAverageAfter: loadAverage(),
      };
    } finally {
      await cluster.stop();
    }
  } finally {
    postgres.stop();
  }
}

async function main() {
  const binary = ensureSpiceDbBinary();
  const schema = await readSchemaFile();
  console.log(
    `cluster benchmark: checks over HTTP, ${CONCURRENCY} concurrent, ${SECONDS} s per node count, ${os.cpus().length} CPUs, load average ${loadAverage().join(' ')}`,
  );
  const rows: Row[] = [];
  for (const nodes of [1, 2, 3]) {
    const row = await measure(nodes, binary, schema);
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  const base = rows[0]?.checksPerSecond ?? 1;
  console.table(
    rows.map((r) => ({
      nodes: r.nodes,
      'checks/s': r.checksPerSecond,
      'vs 1 node': Number((r.checksPerSecond / base).toFixed(2)),
      failed: r.failed,
      'p50 ms': r.p50Ms,
      'p99 ms': r.p99Ms,
      'service CPU ms/check': r.serviceCpuMsPerCheck,
      'SpiceDB CPU ms/check': r.spicedbCpuMsPerCheck,
      'load avg (1 min)': r.loadAverageBefore[0],
    })),
  );
  const out = path.join(repoRoot, 'bench/results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'cluster.json'),
    `${JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, concurrency: CONCURRENCY, seconds: SECONDS, rows }, null, 2)}\n`,
  );
}

await main();
